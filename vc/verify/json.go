package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// object decodes data as exactly one JSON object and returns its members.
// Duplicate member names are refused: encoding/json keeps the last one, a
// JSON-LD processor or another verifier might keep the first, and the two
// would then read two different credentials.
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
	if err := noDuplicates(data); err != nil {
		return ms, err
	}
	return ms, nil
}

// noDuplicates refuses a duplicate member name in any nested object.
func noDuplicates(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := noDupValue(dec, 0); err != nil {
		return err
	}
	return nil
}

// maxDepth bounds nesting: credentials are shallow, and the recursion
// must not be driven by input.
const maxDepth = 64

func noDupValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
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

// jsonObject is a decoded JSON object: its members by name and the names
// in document order.
type jsonObject struct {
	m     map[string]json.RawMessage
	names []string
}

func (o jsonObject) get(name string) (json.RawMessage, bool) {
	v, ok := o.m[name]
	return v, ok
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

// strings decodes a JSON string or array of strings (JSON-LD allows one
// value where a set is meant: "type": "X" is "type": ["X"]).
func stringSet(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := str(raw)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errors.New("not a string or an array of strings")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("empty array")
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, err := str(it)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

// numericDate decodes a JWT NumericDate (RFC 7519 §2): a JSON number of
// seconds since the epoch. A fraction is allowed by the RFC and truncated;
// negative, huge and non-numeric values are refused.
func numericDate(raw json.RawMessage) (time.Time, error) {
	s := string(raw)
	if s == "" || len(s) > 24 || s[0] == '-' || s[0] == '"' {
		return time.Time{}, fmt.Errorf("%.32s is not a NumericDate", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%.32s is not a NumericDate up to year 9999", s)
	}
	return time.Unix(int64(f), 0).UTC(), nil
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// xsdDateTime decodes a VC 1.1 date (an xsd:dateTime with a time zone, as
// RFC 3339 writes it).
func xsdDateTime(raw json.RawMessage, what string) (time.Time, *Error) {
	s, err := str(raw)
	if err != nil {
		return time.Time{}, failWrap(CodeMalformed, err, "%s", what)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, failWrap(CodeMalformed, err, "%s %.40q is not an RFC 3339 date-time with a time zone", what, s)
	}
	return t.UTC(), nil
}

// idOf returns a string value or the "id" member of an object value
// (issuer and holder may be either).
func idOf(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '{' {
		o, err := object(raw)
		if err != nil {
			return "", err
		}
		v, ok := o.get("id")
		if !ok {
			return "", errors.New("object without id")
		}
		return str(v)
	}
	return str(raw)
}
