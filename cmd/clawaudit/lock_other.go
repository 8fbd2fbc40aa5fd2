//go:build !unix

package main

// lockStateDir does nothing where flock(2) is not available: on such
// systems the user must not run two monitors on one state folder.
func lockStateDir(dir string) (unlock func(), err error) { return func() {}, nil }
