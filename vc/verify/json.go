package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clawnet/ledger/vc/internal/strictjson"
)

// object decodes data as exactly one JSON object and returns its members.
// Duplicate member names are refused at every depth, not only at the top
// (strictjson.Parse): Data Integrity credentials are read by a JSON-LD
// processor as a whole, not member by member.
func object(data []byte) (strictjson.Object, error) {
	o, err := strictjson.Parse(data)
	if err != nil {
		return o, err
	}
	if err := strictjson.NoDuplicates(data); err != nil {
		return o, err
	}
	return o, nil
}

// strings decodes a JSON string or array of strings (JSON-LD allows one
// value where a set is meant: "type": "X" is "type": ["X"]).
func stringSet(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := strictjson.String(raw)
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
		s, err := strictjson.String(it)
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
	s, err := strictjson.String(raw)
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
		v, ok := o.Get("id")
		if !ok {
			return "", errors.New("object without id")
		}
		return strictjson.String(v)
	}
	return strictjson.String(raw)
}
