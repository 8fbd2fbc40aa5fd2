package delegation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/clawnet/ledger/vc/internal/strictjson"
)

// members is strictjson's member check as a CodeMalformed refusal.
func members(o strictjson.Object, what string, required, optional []string) *Error {
	if err := o.Members(what, required, optional); err != nil {
		return fail(CodeMalformed, "%s", err)
	}
	return nil
}

// stringArray decodes a JSON array of strings (not null, not a string).
func stringArray(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errors.New("not an array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, err := strictjson.String(it)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

var errNotSmallInt = errors.New("not an integer from 0 to 999 in canonical decimal")

// marshal is json.Marshal without HTML escaping: scopes carry "<=", which
// encoding/json would write as "\u003c=", legal but needlessly opaque to a
// reader of the credential.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
