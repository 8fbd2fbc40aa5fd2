package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"

	"github.com/clawnet/ledger/transparency"
)

// The light check of an action answer (the answers outside the verified
// sample) reads the answer in one pass over its bytes instead of with
// json.Unmarshal, whose validation and reflection cost the generator about
// 9 µs of a 2 KB answer, CPU taken from the server it measures.
//
// It refuses everything json.Unmarshal into the struct the check used to
// decode refused, and accepts everything it accepted (FuzzCheckActionAnswerLight,
// TestCheckActionAnswerLightMatchesUnmarshal), with one deliberate
// difference: where encoding/json matches member names case-insensitively
// ("ID", "Decision", "deciſion" with a long s) and lets the last of
// duplicate members win, the scanner refuses an answer with such a name
// or a duplicate among the members it checks (top level: id, decision,
// reason, index, receipt; in the receipt: format, index). The server
// encodes each exactly once with encoding/json, so it never sends one.

// maxAnswerDepth is encoding/json's limit on nesting, which its scanner
// enforces on every value.
const maxAnswerDepth = 10000

// jsonString is a JSON string as it appears in the answer, with its
// quotes. plain means it has no escape and no byte outside ASCII, so that
// the bytes between the quotes are its value; anything else is decoded
// by encoding/json, that value only. The zero jsonString is a null or
// missing member, whose value (as encoding/json decodes it into a Go
// string) is "".
type jsonString struct {
	raw   []byte
	plain bool
}

// String returns the value s encodes.
func (s jsonString) String() string {
	if s.raw == nil {
		return ""
	}
	if s.plain {
		return string(s.raw[1 : len(s.raw)-1])
	}
	var v string
	if err := json.Unmarshal(s.raw, &v); err != nil {
		// The scanner validated the string, so this does not happen.
		panic(fmt.Sprintf("clawnet: decode the validated JSON string %s: %v", s.raw, err))
	}
	return v
}

// is reports whether s encodes want, without a copy if s is plain.
func (s jsonString) is(want string) bool {
	if s.raw != nil && s.plain {
		return string(s.raw[1:len(s.raw)-1]) == want
	}
	return s.String() == want
}

// lightAnswer is what the light check reads of an action answer.
type lightAnswer struct {
	id, decision, reason jsonString
	index                uint64
	receipt              bool // the receipt is an object, not null or missing
	format               jsonString
	receiptIndex         uint64
	hasReceiptIndex      bool // the receipt's index is a number, not null or missing
}

// The members the light check reads, by level.
var (
	answerMembers  = [...]string{"id", "decision", "reason", "index", "receipt"}
	receiptMembers = [...]string{"format", "index"}
)

const (
	memberID = iota
	memberDecision
	memberReason
	memberIndex
	memberReceipt
)

const (
	memberFormat = iota
	memberReceiptIndex
)

// checkActionAnswerLight is the check of an answer outside the verified
// sample: one well-formed JSON object whose decision is allowed, for
// want's request, with a receipt object of transparency.ReceiptFormat for
// the answered index. It does not verify the receipt.
func checkActionAnswerLight(b []byte, want benchExpect) error {
	a, err := parseActionAnswer(b)
	if err != nil {
		return fmt.Errorf("not an action answer: %w", err)
	}
	if !a.id.is(want.id) || !a.decision.is(string(transparency.DecisionAllowed)) {
		// Decoded only to say what is wrong.
		if err := checkActionDecision(a.id.String(), transparency.Decision(a.decision.String()), a.reason.String(), want); err != nil {
			return err
		}
	}
	switch {
	case !a.receipt:
		return errors.New("no receipt")
	case !a.format.is(transparency.ReceiptFormat) || !a.hasReceiptIndex:
		return fmt.Errorf("not a receipt: format %q", a.format.String())
	case a.receiptIndex != a.index:
		return fmt.Errorf("the receipt is for entry %d, the answer says %d", a.receiptIndex, a.index)
	}
	return nil
}

// parseActionAnswer validates that b is one JSON object, exactly as
// encoding/json does (RFC 8259 syntax, any bytes from 0x20 in strings,
// nesting at most maxAnswerDepth deep, white space around it) and reads
// the members of lightAnswer from it with the types encoding/json would
// decode them into: strings or null, unsigned integers or null, the
// receipt an object or null. Other members are validated and skipped.
func parseActionAnswer(b []byte) (lightAnswer, error) {
	var a lightAnswer
	s := answerScanner{b: b}
	s.space()
	if !s.more() || s.b[s.i] != '{' {
		return a, s.errorf("not a JSON object")
	}
	var seen uint
	err := s.members(1, func(key jsonString) error {
		m, err := s.member(key, answerMembers[:], &seen, 1)
		if err != nil || m < 0 {
			return err
		}
		switch m {
		case memberID:
			a.id, err = s.stringOrNull(key)
		case memberDecision:
			a.decision, err = s.stringOrNull(key)
		case memberReason:
			a.reason, err = s.stringOrNull(key)
		case memberIndex:
			a.index, _, err = s.uintOrNull(key)
		case memberReceipt:
			a.receipt, err = s.receipt(&a)
		}
		return err
	})
	if err != nil {
		return a, err
	}
	s.space()
	if s.more() {
		return a, s.errorf("data after the answer")
	}
	return a, nil
}

// receipt reads the value of the answer's receipt member into a: an
// object (true) or null (false).
func (s *answerScanner) receipt(a *lightAnswer) (bool, error) {
	if s.literal("null") {
		return false, nil
	}
	if !s.more() || s.b[s.i] != '{' {
		return false, s.errorf("the receipt is not an object")
	}
	var seen uint
	err := s.members(2, func(key jsonString) error {
		m, err := s.member(key, receiptMembers[:], &seen, 2)
		if err != nil || m < 0 {
			return err
		}
		switch m {
		case memberFormat:
			a.format, err = s.stringOrNull(key)
		case memberReceiptIndex:
			a.receiptIndex, a.hasReceiptIndex, err = s.uintOrNull(key)
		}
		return err
	})
	return true, err
}

// answerScanner reads JSON from b at i.
type answerScanner struct {
	b []byte
	i int
}

func (s *answerScanner) more() bool { return s.i < len(s.b) }

func (s *answerScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: %s", s.i, fmt.Sprintf(format, args...))
}

// space skips JSON white space.
func (s *answerScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// literal consumes lit if it is next.
func (s *answerScanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// members reads the object at i, at nesting depth depth, calling value
// with each member's name when i is at its value; value must consume
// the value.
func (s *answerScanner) members(depth int, value func(key jsonString) error) error {
	if depth > maxAnswerDepth {
		return s.errorf("nested more than %d deep", maxAnswerDepth)
	}
	s.i++ // '{'
	s.space()
	if s.more() && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		if !s.more() || s.b[s.i] != '"' {
			return s.errorf("want a member name")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.space()
		if !s.more() || s.b[s.i] != ':' {
			return s.errorf("want ':'")
		}
		s.i++
		s.space()
		if err := value(key); err != nil {
			return err
		}
		s.space()
		if !s.more() {
			return s.errorf("unexpected end")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or '}'")
		}
	}
}

// member returns the index of key in names, the members the check reads
// of an object nested depth deep, or -1, with the value skipped, for one
// it does not read. A name that encoding/json would match to one of names
// but is not spelled the same, or one seen before, is refused.
func (s *answerScanner) member(key jsonString, names []string, seen *uint, depth int) (int, error) {
	for i, n := range names {
		if key.is(n) {
			if *seen&(1<<i) != 0 {
				return 0, s.errorf("member %q twice", n)
			}
			*seen |= 1 << i
			return i, nil
		}
	}
	k := key.raw[1 : len(key.raw)-1]
	if !key.plain {
		k = []byte(key.String())
	}
	for _, n := range names {
		// Two ASCII names fold to each other only if just as long.
		if (!key.plain || len(k) == len(n)) && bytes.EqualFold(k, []byte(n)) {
			return 0, s.errorf("member %q is not spelled %q", k, n)
		}
	}
	return -1, s.value(depth)
}

// stringOrNull reads the value of the member key, a string or null.
func (s *answerScanner) stringOrNull(key jsonString) (jsonString, error) {
	if s.literal("null") {
		return jsonString{}, nil
	}
	if !s.more() || s.b[s.i] != '"' {
		return jsonString{}, s.errorf("member %s is not a string", key.raw)
	}
	return s.str()
}

// uintOrNull reads the value of the member key, an unsigned 64-bit
// integer (ok) or null, as encoding/json decodes it into a uint64: digits
// only, no fraction, exponent or sign, at most math.MaxUint64.
func (s *answerScanner) uintOrNull(key jsonString) (n uint64, ok bool, err error) {
	if s.literal("null") {
		return 0, false, nil
	}
	start := s.i
	intOnly, err := s.number()
	if err != nil {
		return 0, false, err
	}
	if !intOnly {
		return 0, false, s.errorf("member %s is not an unsigned integer: %s", key.raw, s.b[start:s.i])
	}
	for _, c := range s.b[start:s.i] {
		hi, lo := bits.Mul64(n, 10)
		lo, carry := bits.Add64(lo, uint64(c-'0'), 0)
		if hi != 0 || carry != 0 {
			return 0, false, s.errorf("member %s is more than 64 bits: %s", key.raw, s.b[start:s.i])
		}
		n = lo
	}
	return n, true, nil
}

// value validates and skips the value at i, inside containers nested
// depth deep.
func (s *answerScanner) value(depth int) error {
	if !s.more() {
		return s.errorf("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{':
		return s.members(depth+1, func(jsonString) error { return s.value(depth + 1) })
	case c == '[':
		return s.array(depth + 1)
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := s.number()
		return err
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	}
	return s.errorf("want a value")
}

// array validates and skips the array at i, at nesting depth depth.
func (s *answerScanner) array(depth int) error {
	if depth > maxAnswerDepth {
		return s.errorf("nested more than %d deep", maxAnswerDepth)
	}
	s.i++ // '['
	s.space()
	if s.more() && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if !s.more() {
			return s.errorf("unexpected end")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case ']':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or ']'")
		}
	}
}

// number validates and skips the number at i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. intOnly reports that it
// is digits only.
func (s *answerScanner) number() (intOnly bool, err error) {
	intOnly = true
	if s.more() && s.b[s.i] == '-' {
		intOnly = false
		s.i++
	}
	switch {
	case !s.more():
		return false, s.errorf("unexpected end in a number")
	case s.b[s.i] == '0':
		s.i++
	case '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false, s.errorf("want a digit")
	}
	if s.more() && s.b[s.i] == '.' {
		intOnly = false
		s.i++
		if s.digits() == 0 {
			return false, s.errorf("want a digit")
		}
	}
	if s.more() && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		intOnly = false
		s.i++
		if s.more() && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false, s.errorf("want a digit")
		}
	}
	return intOnly, nil
}

// digits skips decimal digits and returns how many.
func (s *answerScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// Eight bytes each 0x01 and 0x80, for looking at eight bytes at once.
const (
	lsb8 = 0x0101010101010101
	msb8 = 0x8080808080808080
)

// stringStop marks the bytes of w (little-endian) that a string scan must
// look at: '"', '\\', control characters and bytes from 0x80. Marks above
// the lowest may be false (borrows), the lowest is always right.
func stringStop(w uint64) uint64 {
	q := w ^ (lsb8 * '"')
	bs := w ^ (lsb8 * '\\')
	return ((q-lsb8)&^q | (bs-lsb8)&^bs | (w-lsb8*0x20)&^w | w) & msb8
}

// str validates and skips the string at i, returning it.
func (s *answerScanner) str() (jsonString, error) {
	start := s.i
	i := s.i + 1
	plain := true
	for {
		for len(s.b)-i >= 8 {
			if m := stringStop(binary.LittleEndian.Uint64(s.b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(s.b) {
			s.i = i
			return jsonString{}, s.errorf("unexpected end in a string")
		}
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return jsonString{raw: s.b[start:s.i], plain: plain}, nil
		case c == '\\':
			plain = false
			if i+1 >= len(s.b) {
				s.i = len(s.b)
				return jsonString{}, s.errorf("unexpected end in a string")
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(s.b)-i < 6 || !isHex(s.b[i+2]) || !isHex(s.b[i+3]) || !isHex(s.b[i+4]) || !isHex(s.b[i+5]) {
					s.i = i
					return jsonString{}, s.errorf("bad \\u escape")
				}
				i += 6
			default:
				s.i = i
				return jsonString{}, s.errorf("bad escape")
			}
		case c < 0x20:
			s.i = i
			return jsonString{}, s.errorf("control character %#x in a string", c)
		case c >= 0x80:
			plain = false
			i++
		default:
			i++ // in the last 7 bytes, or a false mark of stringStop
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
