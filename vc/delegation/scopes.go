package delegation

import (
	"bytes"
	"encoding/json"
)

// checkScopes validates credentialSubject.scopes. Until the scope language
// package (vc/scope) is available this checks only the shape the credential
// needs: a non-empty JSON array of JSON objects, each without duplicate
// member names.
func checkScopes(raw json.RawMessage) *Error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return fail(CodeScopesInvalid, "scopes is not a JSON array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return failWrap(CodeScopesInvalid, err, "scopes is not a JSON array")
	}
	if len(items) == 0 {
		return fail(CodeScopesInvalid, "scopes is empty: a delegation grants at least one scope")
	}
	for i, it := range items {
		if _, err := object(it); err != nil {
			return failWrap(CodeScopesInvalid, err, "scopes[%d] is not a JSON object", i)
		}
	}
	return nil
}
