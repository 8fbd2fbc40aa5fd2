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

// jsonFields returns the JSON names of the fields of the struct v points to.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
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
func checkKeys(body []byte, known map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return nil
		}
		if !known[key] {
			return errorf(http.StatusBadRequest, CodeBadJSON, "request body: unknown field %s", echo(key))
		}
		if seen[key] {
			return errorf(http.StatusBadRequest, CodeBadJSON, "request body: duplicate field %s", echo(key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
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
