package status

import (
	"encoding/json"

	"github.com/clawnet/ledger/vc/internal/strictjson"
)

// members is strictjson's member check as a CodeMalformed refusal.
func members(o strictjson.Object, what string, required, optional []string) *Error {
	if err := o.Members(what, required, optional); err != nil {
		return fail(CodeMalformed, "%s", err)
	}
	return nil
}

// exactStrings is strictjson.ExactStrings as a CodeMalformed refusal.
func exactStrings(raw json.RawMessage, what string, want ...string) *Error {
	if err := strictjson.ExactStrings(raw, what, want...); err != nil {
		return fail(CodeMalformed, "%s", err)
	}
	return nil
}
