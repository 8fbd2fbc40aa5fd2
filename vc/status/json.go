package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// object decodes data as exactly one JSON object and returns its members.
// It refuses duplicate member names (encoding/json would keep the last one,
// so that two parsers could read two different values) and any data after
// the object.
func object(data []byte) (jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return jsonObject{}, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return jsonObject{}, errors.New("not a JSON object")
	}
	ms := jsonObject{m: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ms, err
		}
		name, ok := tok.(string)
		if !ok {
			return ms, errors.New("member name is not a string")
		}
		if _, dup := ms.m[name]; dup {
			return ms, fmt.Errorf("duplicate member %.32q", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ms, err
		}
		ms.m[name] = v
		ms.names = append(ms.names, name)
	}
	if _, err := dec.Token(); err != nil {
		return ms, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return ms, errors.New("data after the JSON object")
	}
	return ms, nil
}

// jsonObject is a decoded JSON object: its members by name, and the names
// in document order (so that errors name the first offending member).
type jsonObject struct {
	m     map[string]json.RawMessage
	names []string
}

func (o jsonObject) get(name string) (json.RawMessage, bool) {
	v, ok := o.m[name]
	return v, ok
}

// members checks that ms has every required member and no member that is
// neither required nor optional.
func members(ms jsonObject, what string, required, optional []string) *Error {
	for _, r := range required {
		if _, ok := ms.get(r); !ok {
			return fail(CodeMalformed, "%s: member %q missing", what, r)
		}
	}
	for _, name := range ms.names {
		if !contains(required, name) && !contains(optional, name) {
			return fail(CodeMalformed, "%s: member %.32q not allowed", what, name)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// exactStrings checks that raw is the JSON array of want, in that order.
func exactStrings(raw json.RawMessage, what string, want ...string) *Error {
	var got []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &got) != nil {
		return fail(CodeMalformed, "%s is not an array", what)
	}
	if len(got) != len(want) {
		return fail(CodeMalformed, "%s has %d entries, want %q", what, len(got), want)
	}
	for i, g := range got {
		s, err := str(g)
		if err != nil || s != want[i] {
			return fail(CodeMalformed, "%s[%d] is not %q", what, i, want[i])
		}
	}
	return nil
}

// str decodes a JSON string; null and other types are refused.
func str(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// numericDate decodes a NumericDate (RFC 7519 §2) as this profile writes
// it: a non-negative integer in decimal, no sign, fraction, exponent or
// leading zero.
func numericDate(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if s == "" || len(s) > 12 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%.32s is not a NumericDate in whole seconds", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%.32s is not a NumericDate in whole seconds", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
