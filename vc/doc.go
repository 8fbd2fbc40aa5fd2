// Package vc will hold the scoped-authorization primitive: binding and
// delegation credentials, the scope language and its evaluation, VC-JWT and
// Data Integrity formats, status lists and attenuation (issue 4). Nothing is
// implemented yet; the folder exists because the project's top-level layout
// is fixed.
package vc
