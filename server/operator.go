package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/clawnet/ledger/transparency"
)

// OperatorNoteRequest is the body of POST /log/v1/entries.
type OperatorNoteRequest struct {
	// Reason is the note's text. Required.
	Reason string `json:"reason"`
	// Resource is what the note is about. Optional.
	Resource string `json:"resource,omitempty"`
	// RequestDigest is "sha256:<64 hex>". Optional.
	RequestDigest string `json:"request_digest,omitempty"`
}

// Operator notes are logged with this type and decision.
const (
	OperatorNoteType     = "operator.note"
	OperatorNoteDecision = transparency.DecisionRecorded
)

// authorizeOperator checks the bearer token in constant time. Both sides
// are hashed first so that the comparison does not leak the token length.
func (s *Server) authorizeOperator(w http.ResponseWriter, r *http.Request) error {
	if !s.operator {
		return errorf(http.StatusForbidden, CodeOperatorDisabled, "operator endpoints are disabled on this server")
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clawnet operator"`)
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "an operator bearer token is required")
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clawnet operator", error="invalid_token"`)
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "the operator token is not valid")
	}
	return nil
}

// checkJSONContentType accepts application/json with no charset or utf-8.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		cs, ok := params["charset"]
		if !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		"Content-Type must be application/json, got %s", echo(ct))
}

// readBody checks the Content-Type and reads the whole body, at most
// maxBodySize bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkJSONContentType(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &apiError{http.StatusBadRequest, CodeBadJSON, "could not read the request body", err}
	}
	return body, nil
}

// decodeJSON decodes exactly one JSON object into v, a pointer to a struct,
// rejecting invalid UTF-8 (which encoding/json would silently replace),
// keys that are unknown, duplicated or differ in case from a field's name
// (which encoding/json would silently accept), and trailing data.
func decodeJSON(body []byte, v any) error {
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body is not valid UTF-8")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body must be a JSON object")
	}
	if err := checkKeys(body, jsonFields(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body: trailing data after the JSON object")
	}
	return nil
}

// jsonFieldSets caches jsonFields by type: reflect.Type -> map[string]bool,
// each map read-only once stored.
var jsonFieldSets sync.Map

// jsonFields returns the JSON names of the fields of the struct v points
// to (computed once per type: every request body is checked against them).
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	if m, ok := jsonFieldSets.Load(t); ok {
		return m.(map[string]bool)
	}
	m, _ := jsonFieldSets.LoadOrStore(t, structJSONFields(t))
	return m.(map[string]bool)
}

// structJSONFields returns the JSON names of the fields of struct type t.
func structJSONFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}

// checkKeys walks the top-level keys of the JSON object in body and rejects
// any that is not exactly one of known, or that appears twice. Syntax
// errors are left to the decoder that runs next.
//
// It runs on every request body, so it is one pass over the bytes that
// allocates nothing unless a name has an escape or invalid UTF-8 (then
// encoding/json unquotes it) or the object has more members than
// keySet holds. It answers exactly as the walk with json.Decoder.Token and
// Decode(&json.RawMessage) that it replaced (checkKeysReference in the
// tests, compared by FuzzCheckKeys), malformed bodies included: the walk
// stops with nil at the first syntax error or at the first '}' or ']' it
// meets where a member may start, and it judges a name as soon as the
// name's string ends, before the colon and value that follow are read. So
// {"bogus" is refused although it is not JSON.
//
// decodeJSON only passes bodies that start with '{', but the token walk
// also found names in other bodies, and checkKeys follows it there too so
// that the two can be compared on any input: in an array, names are the
// strings at even positions with the comma as separator ('["bogus",1]' is
// refused); after a scalar first value, the walk reads name and value
// pairs with no separators at all.
func checkKeys(body []byte, known map[string]bool) error {
	i := skipJSONSpace(body, 0)
	if i == len(body) {
		return nil
	}
	// sep is the byte between a name and its value (0: none); commas is
	// whether members are separated by commas.
	var sep byte
	commas := true
	switch body[i] {
	case '{':
		sep, i = ':', i+1
	case '[':
		sep, i = ',', i+1
	default:
		end, ok := skipJSONValue(body, i)
		if !ok || !decodesAsAny(body[i:end]) {
			return nil
		}
		i, commas = end, false
	}
	var seen keySet
	for first := true; ; first = false {
		i = skipJSONSpace(body, i)
		if i == len(body) || body[i] == '}' || body[i] == ']' {
			return nil
		}
		if commas && !first {
			if body[i] != ',' {
				return nil
			}
			i = skipJSONSpace(body, i+1)
		}
		if i == len(body) || body[i] != '"' {
			return nil
		}
		end, plain, ok := skipJSONString(body, i)
		if !ok {
			return nil
		}
		name := body[i+1 : end-1]
		if !plain {
			var s string
			if err := json.Unmarshal(body[i:end], &s); err != nil {
				return nil
			}
			name = []byte(s)
		}
		if !known[string(name)] {
			return errorf(http.StatusBadRequest, CodeBadJSON, "request body: unknown field %s", echo(string(name)))
		}
		if seen.has(name) {
			return errorf(http.StatusBadRequest, CodeBadJSON, "request body: duplicate field %s", echo(string(name)))
		}
		seen.add(name)
		i = end
		if sep != 0 {
			i = skipJSONSpace(body, i)
			if i == len(body) || body[i] != sep {
				return nil
			}
			i++
		}
		if i, ok = skipJSONValue(body, i); !ok {
			return nil
		}
	}
}

// decodesAsAny reports whether the complete JSON value v decodes into an
// interface value: a number must fit a float64.
func decodesAsAny(v []byte) bool {
	if c := v[0]; c != '-' && (c < '0' || c > '9') {
		return true
	}
	_, err := strconv.ParseFloat(string(v), 64)
	return err == nil
}

// keySet is the set of member names checkKeys has seen: the first ones in
// an array (no allocation), any more in a map. Names are known fields, so
// a request body rarely has more than the array holds.
type keySet struct {
	n     int
	small [16][]byte
	more  map[string]bool
}

func (s *keySet) has(name []byte) bool {
	for _, k := range s.small[:min(s.n, len(s.small))] {
		if bytes.Equal(k, name) {
			return true
		}
	}
	return s.more[string(name)]
}

func (s *keySet) add(name []byte) {
	if s.n < len(s.small) {
		s.small[s.n] = name
		s.n++
		return
	}
	if s.more == nil {
		s.more = map[string]bool{}
	}
	s.more[string(name)] = true
}

// maxJSONDepth is encoding/json's limit on nested arrays and objects in
// one value; a deeper value is a syntax error.
const maxJSONDepth = 10000

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipJSONString checks the JSON string that starts at b[i] == '"' as
// encoding/json's scanner does and returns the index after its closing
// quote. plain reports that the string has no escapes and is valid UTF-8,
// so that its bytes are its value.
func skipJSONString(b []byte, i int) (end int, plain, ok bool) {
	start := i + 1
	plain = true
	ascii := true
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			if !ascii && plain {
				plain = utf8.Valid(b[start:i])
			}
			return i + 1, plain, true
		case c < 0x20:
			return 0, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			plain = false
			i++
			if i == len(b) {
				return 0, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, false, false
					}
				}
				i += 4
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipJSONValue checks the JSON value that starts after any whitespace at
// b[i] as encoding/json's scanner does and returns the index after it.
// Whatever follows the value is the caller's business.
func skipJSONValue(b []byte, i int) (end int, ok bool) {
	// objects has bit d set when the container at depth d is an object;
	// the array holds the first 128 levels without allocating.
	var buf [2]uint64
	objects := buf[:]
	depth := 0
	for {
		// At the beginning of a value.
		i = skipJSONSpace(b, i)
		if i == len(b) {
			return 0, false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxJSONDepth {
				return 0, false
			}
			if depth/64 == len(objects) {
				objects = append(objects, 0)
			}
			if c == '{' {
				objects[depth/64] |= 1 << (depth % 64)
			} else {
				objects[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipJSONSpace(b, i+1)
			if i == len(b) {
				return 0, false
			}
			if c == '{' && b[i] == '}' || c == '[' && b[i] == ']' {
				depth--
				i++
				break
			}
			if c == '{' {
				if i, ok = skipJSONMemberName(b, i); !ok {
					return 0, false
				}
			}
			continue
		case '"':
			if i, _, ok = skipJSONString(b, i); !ok {
				return 0, false
			}
		case 't':
			if i, ok = skipJSONLiteral(b, i, "true"); !ok {
				return 0, false
			}
		case 'f':
			if i, ok = skipJSONLiteral(b, i, "false"); !ok {
				return 0, false
			}
		case 'n':
			if i, ok = skipJSONLiteral(b, i, "null"); !ok {
				return 0, false
			}
		default:
			if i, ok = skipJSONNumber(b, i); !ok {
				return 0, false
			}
		}
		// After a complete value: close containers until one continues.
		for {
			if depth == 0 {
				return i, true
			}
			i = skipJSONSpace(b, i)
			if i == len(b) {
				return 0, false
			}
			object := objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if b[i] == ',' {
				i++
				if object {
					if i, ok = skipJSONMemberName(b, skipJSONSpace(b, i)); !ok {
						return 0, false
					}
				}
				break
			}
			if object && b[i] == '}' || !object && b[i] == ']' {
				depth--
				i++
				continue
			}
			return 0, false
		}
	}
}

// skipJSONMemberName checks a member name at b[i] and the colon after it
// and returns the index after the colon.
func skipJSONMemberName(b []byte, i int) (int, bool) {
	if i == len(b) || b[i] != '"' {
		return 0, false
	}
	i, _, ok := skipJSONString(b, i)
	if !ok {
		return 0, false
	}
	i = skipJSONSpace(b, i)
	if i == len(b) || b[i] != ':' {
		return 0, false
	}
	return i + 1, true
}

func skipJSONLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipJSONNumber checks the number at b[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?,
// the longest match, as encoding/json's scanner reads it.
func skipJSONNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i == len(b) || b[i] < '0' || b[i] > '9':
		return 0, false
	case b[i] == '0':
		i++
	default:
		i = digits(i)
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// jsonErrorText describes a decoding error without echoing large inputs.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s must be a JSON %s", echo(te.Field), te.Type.Kind())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if u, qerr := strconv.Unquote(f); qerr == nil {
			f = u
		}
		return "unknown field " + echo(f)
	default:
		return "not a JSON object of the expected shape"
	}
}

// decodeOperatorNote decodes and validates a note request and returns the
// entry it appends, stamped with the server clock.
func (s *Server) decodeOperatorNote(body []byte) (*transparency.Entry, error) {
	var req OperatorNoteRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return nil, errorf(http.StatusBadRequest, CodeInvalidEntry, "reason is required")
	}
	e := &transparency.Entry{
		Version:       transparency.EntryVersion,
		Type:          OperatorNoteType,
		Time:          s.clock().UTC(),
		Resource:      req.Resource,
		Decision:      OperatorNoteDecision,
		Reason:        req.Reason,
		RequestDigest: req.RequestDigest,
	}
	// Marshal validates; its messages name the field and the rule broken,
	// never server state, so they are safe to send.
	if _, err := e.Marshal(); err != nil {
		return nil, &apiError{http.StatusBadRequest, CodeInvalidEntry, err.Error(), err}
	}
	return e, nil
}

func (s *Server) appendNote(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorizeOperator(w, r); err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	e, err := s.decodeOperatorNote(body)
	if err != nil {
		return err
	}
	a, err := s.log.Append(r.Context(), e, nil)
	if err != nil {
		if errors.Is(err, transparency.ErrMalformed) {
			return &apiError{http.StatusBadRequest, CodeInvalidEntry, "the entry is not valid", err}
		}
		return fmt.Errorf("append operator note: %w", err)
	}
	rc, err := s.log.ReceiptFor(a)
	if err != nil {
		return fmt.Errorf("receipt for appended entry %d: %w", a.Index, err)
	}
	b, err := rc.Marshal()
	if err != nil {
		return fmt.Errorf("receipt for appended entry %d: encode: %w", a.Index, err)
	}
	s.logger.Info("operator note appended", "index", a.Index, "tree_size", a.Size)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Location", "/log/v1/entries/"+strconv.FormatUint(a.Index, 10))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
	return nil
}
