package delegation

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strconv"

	"github.com/clawnet/ledger/vc/scope"
)

// parseScopes parses credentialSubject.scopes with the scope language's
// strict parser (spec/scope-language.md); a delegation grants at least one
// scope.
func parseScopes(raw json.RawMessage) ([]scope.Scope, *Error) {
	s, err := scope.Parse(raw)
	if err != nil {
		return nil, failWrap(CodeScopesInvalid, err, "credentialSubject.scopes")
	}
	if len(s) == 0 {
		return nil, fail(CodeScopesInvalid, "credentialSubject.scopes is empty: a delegation grants at least one scope")
	}
	return s, nil
}

// checkScopes validates scopes built in Go (the issuing side).
func checkScopes(s []scope.Scope) *Error {
	if len(s) == 0 {
		return fail(CodeScopesInvalid, "no scopes: a delegation grants at least one scope")
	}
	if err := scope.Validate(s); err != nil {
		return failWrap(CodeScopesInvalid, err, "scopes")
	}
	return nil
}

// exactDoubles refuses, in the Data Integrity format, a number in the
// scopes that a float64 cannot hold exactly. JSON-LD turns JSON numbers
// into doubles before canonicalization, so two such numbers that round to
// the same double would have the same signature: the signed RDF must pin
// the exact decimal that the scope language compares. (VC-JWT signs the
// bytes and needs no such rule.)
func exactDoubles(raw json.RawMessage) *Error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failWrap(CodeScopesInvalid, err, "credentialSubject.scopes")
		}
		n, ok := tok.(json.Number)
		if !ok {
			continue
		}
		if !exactDouble(string(n)) {
			return fail(CodeScopesInvalid, "number %.40s in the scopes is not exactly a double: the Data Integrity format cannot sign it (use VC-JWT)", n)
		}
	}
}

func exactDouble(s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return false
	}
	fr := new(big.Rat)
	if fr.SetFloat64(f) == nil {
		return false
	}
	return r.Cmp(fr) == 0
}
