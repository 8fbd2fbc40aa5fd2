// Package vc holds the scoped-authorization primitive's credentials. Its
// sub-packages are the implementations:
//   - vc/binding: the agent binding credential (VC-JWT), an owner's signed
//     statement that an agent DID is its Manager Agent or one of its
//     Identity Agents (issue 3).
//
// Delegation credentials, the scope language and its evaluation, Data
// Integrity proofs, status lists and attenuation are issue 4.
package vc
