package scope

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a scope list. Inputs beyond them are refused, never truncated.
const (
	MaxScopes    = 256  // scopes in one list
	MaxItems     = 64   // actions, resources, counterparties or constraints of one scope
	MaxStringLen = 1024 // bytes of one action, pattern, counterparty or string value; also of a request's action and resource
	MaxSegments  = 64   // "/"-separated segments of an action, a resource pattern or a request resource
	// MaxSearched bounds the sum, over every resource pattern of a list, of
	// the segments between a pattern's first and last "**": the part that
	// matching searches for rather than anchors. It keeps the worst
	// evaluation of a list near a millisecond (spec/scope-language.md,
	// "Limits").
	MaxSearched = 4096
	maxIDLen    = 64
	maxArgLen   = 64
)

// Effect is what a scope does to the requests it matches, and the outcome
// of a Decision.
type Effect string

// Effects. A scope is Allow or Deny; a decision is one of the three.
const (
	Allow    Effect = "allow"
	Deny     Effect = "deny"
	Escalate Effect = "escalate"
)

// Op is a constraint's comparison.
type Op string

// The constraint operators.
const (
	OpEq     Op = "=="
	OpNe     Op = "!="
	OpLt     Op = "<"
	OpLe     Op = "<="
	OpGt     Op = ">"
	OpGe     Op = ">="
	OpIn     Op = "in"
	OpNotIn  Op = "not_in"
	OpPrefix Op = "prefix"
)

// Outside is what an allow scope asks for a request whose action it covers
// but that it does not allow.
type Outside string

// Outside values; "" is the absent member, which means OutsideDeny.
const (
	OutsideDeny     Outside = "deny"
	OutsideEscalate Outside = "escalate"
)

// Contacts is the counterparty entry that admits any owner who is a live
// contact of the delegating owner.
const Contacts = "contacts"

// Constraint is a condition on one argument of the request.
type Constraint struct {
	Arg   string
	Op    Op
	Value Value
}

// Scope is one rule of a delegation. Counterparties nil means the member is
// absent (the action must have no counterparty); zero NotBefore or NotAfter
// means that bound is absent. See spec/scope-language.md.
type Scope struct {
	ID             string
	Effect         Effect
	Actions        []string
	Resources      []string
	Counterparties []string
	Constraints    []Constraint
	NotBefore      time.Time
	NotAfter       time.Time
	Outside        Outside
}

// Code names why a scope list was refused. Codes are stable strings.
type Code string

// The refusal codes of Parse, Validate and Compile.
const (
	CodeMalformed           Code = "scope_malformed"            // not JSON of the shape: syntax, type, unknown, duplicate or missing member, too many scopes
	CodeIDInvalid           Code = "scope_id_invalid"           // id not [a-z0-9][a-z0-9._-]{0,63}, or used twice in one list
	CodeEffectInvalid       Code = "scope_effect_invalid"       // effect not allow or deny
	CodeActionInvalid       Code = "scope_action_invalid"       // actions empty, too many, or one not of the grammar
	CodeResourceInvalid     Code = "scope_resource_invalid"     // resources empty, too many, or one not a valid pattern
	CodeCounterpartyInvalid Code = "scope_counterparty_invalid" // counterparties empty, too many, or one neither "contacts" nor a DID
	CodeConstraintInvalid   Code = "scope_constraint_invalid"   // a constraint's arg, op or value is invalid, or too many
	CodeTimeInvalid         Code = "scope_time_invalid"         // notBefore/notAfter not canonical RFC 3339 UTC, or notBefore >= notAfter
	CodeOutsideInvalid      Code = "scope_outside_invalid"      // outside not deny or escalate, or on a deny scope
)

// AllCodes lists every refusal code, for documentation tests.
var AllCodes = []Code{CodeMalformed, CodeIDInvalid, CodeEffectInvalid, CodeActionInvalid, CodeResourceInvalid,
	CodeCounterpartyInvalid, CodeConstraintInvalid, CodeTimeInvalid, CodeOutsideInvalid}

// Error is the one error type of a refused scope list. Scope is the index
// of the offending scope (-1 for the list itself), Member the JSON path of
// the offending member inside it ("resources[2]", "constraints[0].value"),
// or "" for the whole scope.
type Error struct {
	Code    Code
	Scope   int
	Member  string
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Scope >= 0 {
		fmt.Fprintf(&b, ": scope %d", e.Scope)
	}
	if e.Member != "" {
		fmt.Fprintf(&b, ": %s", e.Member)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// CodeOf returns the Code of a refusal, or "" if err is not (or does not
// wrap) an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func fail(code Code, scope int, member, format string, args ...any) *Error {
	return &Error{Code: code, Scope: scope, Member: member, Message: fmt.Sprintf(format, args...)}
}

// Parse parses a JSON array of scopes strictly (unknown, duplicate, null or
// mistyped members refused, invalid UTF-8 refused, no trailing data) and
// validates it. An empty array is a valid list that allows nothing.
func Parse(data []byte) ([]Scope, error) {
	n, err := parseJSON(data)
	if err != nil {
		return nil, fail(CodeMalformed, -1, "", "%v", err)
	}
	if n.kind != nodeArray {
		return nil, fail(CodeMalformed, -1, "", "a scope list is a JSON array, not a %s", n.kind)
	}
	if len(n.arr) > MaxScopes {
		return nil, fail(CodeMalformed, -1, "", "%d scopes, over %d", len(n.arr), MaxScopes)
	}
	out := make([]Scope, len(n.arr))
	for i := range n.arr {
		s, err := scopeOf(i, &n.arr[i])
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	if err := Validate(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseScope parses and validates one scope object.
func ParseScope(data []byte) (Scope, error) {
	n, err := parseJSON(data)
	if err != nil {
		return Scope{}, fail(CodeMalformed, 0, "", "%v", err)
	}
	s, err := scopeOf(0, n)
	if err != nil {
		return Scope{}, err
	}
	if err := validateScope(0, &s); err != nil {
		return Scope{}, err
	}
	return s, nil
}

// UnmarshalJSON is ParseScope, so that a credential can embed []Scope.
func (s *Scope) UnmarshalJSON(data []byte) error {
	x, err := ParseScope(data)
	if err != nil {
		return err
	}
	*s = x
	return nil
}

// MarshalJSON is the canonical encoding of s (see Marshal).
func (s Scope) MarshalJSON() ([]byte, error) {
	if err := validateScope(0, &s); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	s.appendJSON(&buf)
	return buf.Bytes(), nil
}

// Marshal validates scopes and writes their canonical JSON: no
// whitespace, members in the order of spec/scope-language.md, absent
// members omitted, numbers in canonical form, no HTML escaping. Parse then
// Marshal is a fixed point: Marshal(Parse(Marshal(x))) == Marshal(x).
func Marshal(scopes []Scope) ([]byte, error) {
	if err := Validate(scopes); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range scopes {
		if i > 0 {
			buf.WriteByte(',')
		}
		scopes[i].appendJSON(&buf)
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

func (s *Scope) appendJSON(buf *bytes.Buffer) {
	buf.WriteByte('{')
	if s.ID != "" {
		buf.WriteString(`"id":`)
		writeJSONString(buf, s.ID)
		buf.WriteByte(',')
	}
	buf.WriteString(`"effect":`)
	writeJSONString(buf, string(s.Effect))
	buf.WriteString(`,"actions":`)
	writeStrings(buf, s.Actions)
	buf.WriteString(`,"resources":`)
	writeStrings(buf, s.Resources)
	if s.Counterparties != nil {
		buf.WriteString(`,"counterparties":`)
		writeStrings(buf, s.Counterparties)
	}
	if s.Constraints != nil {
		buf.WriteString(`,"constraints":[`)
		for i, c := range s.Constraints {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(`{"arg":`)
			writeJSONString(buf, c.Arg)
			buf.WriteString(`,"op":`)
			writeJSONString(buf, string(c.Op))
			buf.WriteString(`,"value":`)
			c.Value.appendJSON(buf)
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	}
	if !s.NotBefore.IsZero() {
		buf.WriteString(`,"notBefore":"`)
		buf.WriteString(s.NotBefore.UTC().Format(time.RFC3339Nano))
		buf.WriteByte('"')
	}
	if !s.NotAfter.IsZero() {
		buf.WriteString(`,"notAfter":"`)
		buf.WriteString(s.NotAfter.UTC().Format(time.RFC3339Nano))
		buf.WriteByte('"')
	}
	if s.Outside != "" {
		buf.WriteString(`,"outside":`)
		writeJSONString(buf, string(s.Outside))
	}
	buf.WriteByte('}')
}

func writeStrings(buf *bytes.Buffer, ss []string) {
	buf.WriteByte('[')
	for i, x := range ss {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(buf, x)
	}
	buf.WriteByte(']')
}

// scopeOf maps a parsed JSON object onto a Scope, checking only the JSON
// shape; validateScope checks the values.
func scopeOf(i int, n *node) (Scope, error) {
	var s Scope
	if n.kind != nodeObject {
		return s, fail(CodeMalformed, i, "", "a scope is a JSON object, not a %s", n.kind)
	}
	seen := map[string]bool{}
	for _, m := range n.obj {
		v := &m.val
		var err error
		switch m.name {
		case "id":
			s.ID, err = stringOf(i, m.name, v)
			if err == nil && s.ID == "" {
				err = fail(CodeIDInvalid, i, "id", "empty id (omit the member instead)")
			}
		case "effect":
			var e string
			e, err = stringOf(i, m.name, v)
			s.Effect = Effect(e)
		case "actions":
			s.Actions, err = stringsOf(i, m.name, v)
		case "resources":
			s.Resources, err = stringsOf(i, m.name, v)
		case "counterparties":
			s.Counterparties, err = stringsOf(i, m.name, v)
		case "constraints":
			s.Constraints, err = constraintsOf(i, v)
		case "notBefore", "notAfter":
			var t string
			t, err = stringOf(i, m.name, v)
			if err == nil {
				var tt time.Time
				tt, err = parseTime(i, m.name, t)
				if m.name == "notBefore" {
					s.NotBefore = tt
				} else {
					s.NotAfter = tt
				}
			}
		case "outside":
			var o string
			o, err = stringOf(i, m.name, v)
			if err == nil && o == "" {
				err = fail(CodeOutsideInvalid, i, "outside", "empty outside (omit the member instead)")
			}
			s.Outside = Outside(o)
		default:
			return s, fail(CodeMalformed, i, m.name, "unknown member")
		}
		if err != nil {
			return s, err
		}
		seen[m.name] = true
	}
	for _, req := range []string{"effect", "actions", "resources"} {
		if !seen[req] {
			return s, fail(CodeMalformed, i, req, "required member missing")
		}
	}
	return s, nil
}

func stringOf(i int, name string, v *node) (string, error) {
	if v.kind != nodeString {
		return "", fail(CodeMalformed, i, name, "a string, not a %s", v.kind)
	}
	return v.str, nil
}

func stringsOf(i int, name string, v *node) ([]string, error) {
	if v.kind != nodeArray {
		return nil, fail(CodeMalformed, i, name, "an array of strings, not a %s", v.kind)
	}
	out := make([]string, len(v.arr))
	for j := range v.arr {
		s, err := stringOf(i, fmt.Sprintf("%s[%d]", name, j), &v.arr[j])
		if err != nil {
			return nil, err
		}
		out[j] = s
	}
	return out, nil
}

func constraintsOf(i int, v *node) ([]Constraint, error) {
	if v.kind != nodeArray {
		return nil, fail(CodeMalformed, i, "constraints", "an array of objects, not a %s", v.kind)
	}
	out := make([]Constraint, len(v.arr))
	for j := range v.arr {
		path := fmt.Sprintf("constraints[%d]", j)
		c := &v.arr[j]
		if c.kind != nodeObject {
			return nil, fail(CodeMalformed, i, path, "a constraint is an object, not a %s", c.kind)
		}
		var have [3]bool
		for _, m := range c.obj {
			switch m.name {
			case "arg":
				s, err := stringOf(i, path+".arg", &m.val)
				if err != nil {
					return nil, err
				}
				out[j].Arg, have[0] = s, true
			case "op":
				s, err := stringOf(i, path+".op", &m.val)
				if err != nil {
					return nil, err
				}
				out[j].Op, have[1] = Op(s), true
			case "value":
				x, err := valueOf(&m.val, true)
				if err != nil {
					return nil, fail(CodeConstraintInvalid, i, path+".value", "%v", err)
				}
				out[j].Value, have[2] = x, true
			default:
				return nil, fail(CodeMalformed, i, path+"."+m.name, "unknown member")
			}
		}
		for k, name := range []string{"arg", "op", "value"} {
			if !have[k] {
				return nil, fail(CodeMalformed, i, path+"."+name, "required member missing")
			}
		}
	}
	return out, nil
}

func parseTime(i int, name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Location() != time.UTC || t.Format(time.RFC3339Nano) != s {
		return time.Time{}, fail(CodeTimeInvalid, i, name, "%q is not a canonical RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.fraction]Z, no trailing zeros)", clip(s))
	}
	if t.Year() < 1970 {
		return time.Time{}, fail(CodeTimeInvalid, i, name, "%q is before 1970", s)
	}
	return t, nil
}

// Validate checks a scope list against every rule of the language; Parse
// calls it, and so does Compile for lists built in Go.
func Validate(scopes []Scope) error {
	if len(scopes) > MaxScopes {
		return fail(CodeMalformed, -1, "", "%d scopes, over %d", len(scopes), MaxScopes)
	}
	ids := map[string]int{}
	searched := 0
	for i := range scopes {
		if err := validateScope(i, &scopes[i]); err != nil {
			return err
		}
		for j, p := range scopes[i].Resources {
			searched += searchedSegments(p)
			if searched > MaxSearched {
				return fail(CodeResourceInvalid, i, "resources["+strconv.Itoa(j)+"]", "the list's patterns have more than %d segments between globstars in all", MaxSearched)
			}
		}
		if id := scopes[i].ID; id != "" {
			if j, dup := ids[id]; dup {
				return fail(CodeIDInvalid, i, "id", "id %q already names scope %d", id, j)
			}
			ids[id] = i
		}
	}
	return nil
}

func validateScope(i int, s *Scope) error {
	if s.ID != "" && !validID(s.ID) {
		return fail(CodeIDInvalid, i, "id", "%q is not [a-z0-9][a-z0-9._-]{0,63}", clip(s.ID))
	}
	if s.Effect != Allow && s.Effect != Deny {
		return fail(CodeEffectInvalid, i, "effect", "%q is neither allow nor deny", clip(string(s.Effect)))
	}
	if err := checkList(i, "actions", CodeActionInvalid, s.Actions, func(a string) string {
		if a == "*" {
			return ""
		}
		return actionProblem(a)
	}); err != nil {
		return err
	}
	if err := checkList(i, "resources", CodeResourceInvalid, s.Resources, patternProblem); err != nil {
		return err
	}
	if s.Counterparties != nil {
		if err := checkList(i, "counterparties", CodeCounterpartyInvalid, s.Counterparties, func(c string) string {
			if c == Contacts {
				return ""
			}
			return didProblem(c)
		}); err != nil {
			return err
		}
	}
	if s.Constraints != nil {
		if len(s.Constraints) == 0 {
			return fail(CodeConstraintInvalid, i, "constraints", "empty (omit the member instead)")
		}
		if len(s.Constraints) > MaxItems {
			return fail(CodeConstraintInvalid, i, "constraints", "%d constraints, over %d", len(s.Constraints), MaxItems)
		}
		for j, c := range s.Constraints {
			if err := validateConstraint(i, j, c); err != nil {
				return err
			}
		}
	}
	for _, tt := range []struct {
		name string
		t    time.Time
	}{{"notBefore", s.NotBefore}, {"notAfter", s.NotAfter}} {
		if !tt.t.IsZero() && (tt.t.Year() < 1970 || tt.t.Year() > 9999) {
			return fail(CodeTimeInvalid, i, tt.name, "year %d outside 1970-9999", tt.t.Year())
		}
	}
	if !s.NotBefore.IsZero() && !s.NotAfter.IsZero() && !s.NotBefore.Before(s.NotAfter) {
		return fail(CodeTimeInvalid, i, "notAfter", "notAfter %s is not after notBefore %s",
			s.NotAfter.UTC().Format(time.RFC3339Nano), s.NotBefore.UTC().Format(time.RFC3339Nano))
	}
	switch s.Outside {
	case "":
	case OutsideDeny, OutsideEscalate:
		if s.Effect == Deny {
			return fail(CodeOutsideInvalid, i, "outside", "a deny scope has no outside")
		}
	default:
		return fail(CodeOutsideInvalid, i, "outside", "%q is neither deny nor escalate", clip(string(s.Outside)))
	}
	return nil
}

func checkList(i int, name string, code Code, items []string, problem func(string) string) error {
	if len(items) == 0 {
		return fail(code, i, name, "empty")
	}
	if len(items) > MaxItems {
		return fail(code, i, name, "%d items, over %d", len(items), MaxItems)
	}
	for j, x := range items {
		if p := problem(x); p != "" {
			return fail(code, i, name+"["+strconv.Itoa(j)+"]", "%s: %s", strconv.Quote(clip(x)), p)
		}
	}
	return nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen || !lowerDigit(s[0]) {
		return false
	}
	for k := 1; k < len(s); k++ {
		c := s[k]
		if !lowerDigit(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func lowerDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func validArg(s string) bool {
	if len(s) == 0 || len(s) > maxArgLen {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if k == 0 && !alpha || k > 0 && !alpha && !(c >= '0' && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// actionProblem says what is wrong with an action name (not "*"), or "".
func actionProblem(a string) string {
	if len(a) > MaxStringLen {
		return fmt.Sprintf("longer than %d bytes", MaxStringLen)
	}
	if a == "" {
		return "empty"
	}
	segs := 1
	start := 0
	for k := 0; k <= len(a); k++ {
		if k == len(a) || a[k] == '/' {
			if k == start {
				return "empty segment"
			}
			if k < len(a) {
				segs++
				start = k + 1
			}
			continue
		}
		c := a[k]
		if !lowerDigit(c) && c != '_' && c != '-' {
			return "segments are [a-z0-9_-]+ joined by \"/\""
		}
	}
	if segs > MaxSegments {
		return fmt.Sprintf("more than %d segments", MaxSegments)
	}
	return ""
}

// textProblem refuses what no pattern or request may hold: invalid UTF-8,
// control characters (C0, DEL, C1), U+FFFD (what a lone surrogate escape
// decodes to) and backslashes (a path separator elsewhere).
func textProblem(s string) string {
	if len(s) > MaxStringLen {
		return fmt.Sprintf("longer than %d bytes", MaxStringLen)
	}
	for k := 0; k < len(s); {
		c := s[k]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return "control character"
			}
			if c == '\\' {
				return "backslash"
			}
			k++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[k:])
		switch {
		case r == utf8.RuneError && size == 1:
			return "invalid UTF-8"
		case r == utf8.RuneError:
			return "U+FFFD replacement character"
		case r >= 0x80 && r <= 0x9f:
			return "control character"
		}
		k += size
	}
	return ""
}

// patternProblem says what is wrong with a resource pattern, or "".
func patternProblem(p string) string {
	if t := textProblem(p); t != "" {
		return t
	}
	if p == "" {
		return "empty"
	}
	n := 0
	for seg := range strings.SplitSeq(p, "/") {
		n++
		switch {
		case seg == "":
			return "empty segment (no leading, trailing or double \"/\")"
		case seg == "." || seg == "..":
			return "\".\" or \"..\" segment"
		case seg != "**" && strings.Contains(seg, "**"):
			return "\"**\" only as a whole segment"
		}
	}
	if n > MaxSegments {
		return fmt.Sprintf("more than %d segments", MaxSegments)
	}
	return ""
}

// didProblem checks the DID Core 1.0 syntax of a bare DID (no path, query
// or fragment): "did:" method-name ":" method-specific-id.
func didProblem(d string) string {
	if len(d) > MaxStringLen {
		return fmt.Sprintf("longer than %d bytes", MaxStringLen)
	}
	rest, ok := strings.CutPrefix(d, "did:")
	if !ok {
		return "neither \"contacts\" nor a DID"
	}
	method, id, ok := strings.Cut(rest, ":")
	if !ok || method == "" {
		return "a DID is did:<method>:<method-specific-id>"
	}
	for k := 0; k < len(method); k++ {
		if !lowerDigit(method[k]) {
			return "method name is [a-z0-9]+"
		}
	}
	if id == "" || id[len(id)-1] == ':' {
		return "empty method-specific-id"
	}
	for k := 0; k < len(id); k++ {
		c := id[k]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == ':':
		case c == '%':
			if k+2 >= len(id) || !isHex(id[k+1]) || !isHex(id[k+2]) {
				return "bad percent-encoding"
			}
			k += 2
		default:
			return "character not allowed in a bare DID (no path, query or fragment)"
		}
	}
	return ""
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func validateConstraint(i, j int, c Constraint) error {
	path := "constraints[" + strconv.Itoa(j) + "]"
	if !validArg(c.Arg) {
		return fail(CodeConstraintInvalid, i, path+".arg", "%q is not [A-Za-z_][A-Za-z0-9_.-]{0,63}", clip(c.Arg))
	}
	v := c.Value
	bad := func(format string, args ...any) error {
		return fail(CodeConstraintInvalid, i, path+".value", format, args...)
	}
	if err := valueProblem(v); err != "" {
		return bad("%s", err)
	}
	switch c.Op {
	case OpEq, OpNe:
		if v.kind == KindList || v.kind == KindNone {
			return bad("%s compares a number, a string or a bool, not a %s", c.Op, v.kind)
		}
	case OpLt, OpLe, OpGt, OpGe:
		if v.kind != KindNumber {
			return bad("%s compares numbers, not a %s", c.Op, v.kind)
		}
	case OpIn, OpNotIn:
		if v.kind != KindList || len(v.list) == 0 {
			return bad("%s takes a non-empty list of strings or of numbers", c.Op)
		}
		k := v.list[0].kind
		if k != KindString && k != KindNumber {
			return bad("%s takes a list of strings or of numbers, not of %ss", c.Op, k)
		}
		for _, x := range v.list {
			if x.kind != k {
				return bad("%s takes a list of one kind: strings or numbers", c.Op)
			}
		}
	case OpPrefix:
		if v.kind != KindString || v.str == "" {
			return bad("prefix takes a non-empty string")
		}
	default:
		return fail(CodeConstraintInvalid, i, path+".op", "%q is not an operator", clip(string(c.Op)))
	}
	return nil
}

// valueProblem checks the limits of a constraint operand built in Go.
func valueProblem(v Value) string {
	switch v.kind {
	case KindString:
		if len(v.str) > MaxStringLen {
			return fmt.Sprintf("string longer than %d bytes", MaxStringLen)
		}
		if !utf8.ValidString(v.str) {
			return "invalid UTF-8"
		}
	case KindList:
		if len(v.list) > MaxListLen {
			return fmt.Sprintf("list of more than %d items", MaxListLen)
		}
		for _, x := range v.list {
			if x.kind == KindList {
				return "a list inside a list"
			}
			if p := valueProblem(x); p != "" {
				return p
			}
		}
	case KindNone:
		return "no value"
	}
	return ""
}

// searchedSegments counts the segments of a valid pattern strictly between
// its first and last "**" that are not "**" themselves.
func searchedSegments(p string) int {
	first, last, n, mid := -1, -1, 0, 0
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "**" {
			if first < 0 {
				first = n
			} else {
				mid += n - last - 1
			}
			last = n
		}
		n++
	}
	return mid
}
