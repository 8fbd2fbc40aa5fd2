// Package strictjson is the strict JSON reading shared by the credential
// packages of vc/ (binding, status, delegation, verify): one object at a
// time, each member name once (RFC 8259 §4 leaves duplicates to the
// parser; encoding/json keeps the last, a JSON-LD processor or another
// verifier might keep the first, and two parsers would then read two
// different credentials), no data after the value, strings that are
// strings (never null), and the JWT NumericDate (RFC 7519 §2) in the whole
// seconds this profile writes.
//
// Its errors are plain errors whose text the packages put into their own
// refusals, with their own codes.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Object is a decoded JSON object: its members by name, and the names in
// document order (so that errors name the first offending member).
type Object struct {
	m     map[string]json.RawMessage
	names []string
}

// Parse decodes data as exactly one JSON object and returns its members.
// It refuses duplicate member names of this object (not of nested ones:
// see NoDuplicates) and any data after the object.
func Parse(data []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return Object{}, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return Object{}, errors.New("not a JSON object")
	}
	o := Object{m: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return o, err
		}
		name, ok := tok.(string)
		if !ok {
			return o, errors.New("member name is not a string")
		}
		if _, dup := o.m[name]; dup {
			return o, fmt.Errorf("duplicate member %.32q", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return o, err
		}
		o.m[name] = v
		o.names = append(o.names, name)
	}
	if _, err := dec.Token(); err != nil {
		return o, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return o, errors.New("data after the JSON object")
	}
	return o, nil
}

// Get returns the member name's raw value and whether it is present.
func (o Object) Get(name string) (json.RawMessage, bool) {
	v, ok := o.m[name]
	return v, ok
}

// Names returns the member names in document order. The slice is the
// object's own: callers must not modify it.
func (o Object) Names() []string { return o.names }

// Members checks that o has every required member and no member that is
// neither required nor optional; what names o in the error ("claim set").
// Missing members are reported first, in the order of required.
func (o Object) Members(what string, required, optional []string) error {
	for _, r := range required {
		if _, ok := o.m[r]; !ok {
			return fmt.Errorf("%s: member %q missing", what, r)
		}
	}
	for _, name := range o.names {
		if !slices.Contains(required, name) && !slices.Contains(optional, name) {
			return fmt.Errorf("%s: member %.32q not allowed", what, name)
		}
	}
	return nil
}

// String decodes a JSON string; null and other types are refused.
func String(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// ExactStrings checks that raw is the JSON array of want, in that order;
// what names raw in the error ("vc.type"). The profiles fix @context and
// type this way, so that a verifier needs no JSON-LD processing to find
// them.
func ExactStrings(raw json.RawMessage, what string, want ...string) error {
	var got []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &got) != nil {
		return fmt.Errorf("%s is not an array", what)
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s has %d entries, want %q", what, len(got), want)
	}
	for i, g := range got {
		s, err := String(g)
		if err != nil || s != want[i] {
			return fmt.Errorf("%s[%d] is not %q", what, i, want[i])
		}
	}
	return nil
}

// NumericDate decodes a JWT NumericDate (RFC 7519 §2) as the profiles of
// this module write it: a non-negative integer in decimal of at most 12
// digits, no sign, fraction, exponent or leading zero. Range checks (not
// 0, not after 9999) are the caller's.
func NumericDate(raw json.RawMessage) (int64, error) {
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

// MaxDepth bounds the nesting NoDuplicates walks: credentials are shallow,
// and the recursion must not be driven by input.
const MaxDepth = 64

// NoDuplicates refuses a duplicate member name in any object of the JSON
// value data, at any depth up to MaxDepth (deeper is refused too). Parse
// checks only the top level; a verifier of documents it does not parse
// member by member (JSON-LD credentials) needs every level.
func NoDuplicates(data []byte) error {
	return noDupValue(json.NewDecoder(bytes.NewReader(data)), 0)
}

func noDupValue(dec *json.Decoder, depth int) error {
	if depth > MaxDepth {
		return errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := k.(string)
			if seen[name] {
				return fmt.Errorf("duplicate member %.32q", name)
			}
			seen[name] = true
			if err := noDupValue(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := noDupValue(dec, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
