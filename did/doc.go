// Package did will hold the layered-identity primitive: DID methods
// (did:key, hosted and remote did:web), DID documents and their resolution,
// and the registry of owners, their Manager and Identity Agents and their
// contacts (issue 3). Nothing is implemented yet; the folder exists because
// the project's top-level layout is fixed.
package did
