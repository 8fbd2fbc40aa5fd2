//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file in the state folder that a running monitor holds an
// exclusive lock on, so that two monitors never interleave their rounds on
// one trusted state.
const lockFile = "lock"

// lockStateDir takes the state folder's lock without waiting. The lock is
// released by the returned function, or by the kernel when the process
// ends, however it ends.
func lockStateDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, withHint(fmt.Errorf("state directory %s is in use by another clawaudit monitor", dir),
				"give each monitor its own --state folder, or stop the other one")
		}
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
