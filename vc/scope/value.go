package scope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Number limits. A number is exact: it is kept as its decimal digits and a
// power of ten, never as a float, so 100.0000000001 is greater than 100 and
// 0.3 is exactly 0.3.
const (
	MaxDigits   = 64   // significant digits of a number (leading and trailing zeros excluded); a number's text is at most MaxStringLen bytes
	MaxExponent = 9999 // largest absolute value of an exponent as written, and of the normalized exponent
)

// Number is an exact decimal: (-1)^neg × digits × 10^exp, with digits
// free of leading and trailing zeros ("" for zero). The zero Number is 0.
// Numbers are comparable with ==: equal values have equal representations.
type Number struct {
	neg    bool
	digits string
	exp    int32
}

// ParseNumber parses a JSON number (RFC 8259 grammar: no leading "+", no
// leading zeros, no bare ".", no hexadecimal, no NaN or Infinity) exactly.
// It refuses more than MaxDigits significant digits and exponents beyond
// ±MaxExponent.
func ParseNumber(s string) (Number, error) {
	var n Number
	if len(s) > MaxStringLen {
		return Number{}, fmt.Errorf("number %q: longer than %d bytes", clip(s), MaxStringLen)
	}
	i := 0
	if i < len(s) && s[i] == '-' {
		n.neg = true
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" {
		return Number{}, fmt.Errorf("number %q: no integer digits", clip(s))
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return Number{}, fmt.Errorf("number %q: leading zero", clip(s))
	}
	fracPart := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		fracPart = s[fs:i]
		if fracPart == "" {
			return Number{}, fmt.Errorf("number %q: no fraction digits", clip(s))
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == es {
			return Number{}, fmt.Errorf("number %q: no exponent digits", clip(s))
		}
		// Leading zeros are legal in a JSON exponent; strip them before
		// counting so that "1e0005" is 1e5.
		ed := strings.TrimLeft(s[es:i], "0")
		if len(ed) > 4 {
			return Number{}, fmt.Errorf("number %q: exponent beyond ±%d", clip(s), MaxExponent)
		}
		if ed != "" {
			exp, _ = strconv.Atoi(ed)
		}
		if exp > MaxExponent {
			return Number{}, fmt.Errorf("number %q: exponent beyond ±%d", clip(s), MaxExponent)
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return Number{}, fmt.Errorf("number %q: not a JSON number", clip(s))
	}
	all := intPart + fracPart
	exp -= len(fracPart)
	all = strings.TrimLeft(all, "0")
	trimmed := strings.TrimRight(all, "0")
	exp += len(all) - len(trimmed)
	if len(trimmed) > MaxDigits {
		return Number{}, fmt.Errorf("number %q: more than %d significant digits", clip(s), MaxDigits)
	}
	if trimmed == "" {
		return Number{}, nil // -0 is 0
	}
	// Bound the scientific exponent, so that String's e-notation parses back.
	if sci := exp + len(trimmed) - 1; sci > MaxExponent || sci < -MaxExponent {
		return Number{}, fmt.Errorf("number %q: exponent beyond ±%d", clip(s), MaxExponent)
	}
	n.digits = trimmed
	n.exp = int32(exp)
	return n, nil
}

// NumberFromInt returns the exact Number of i.
func NumberFromInt(i int64) Number {
	n, err := ParseNumber(strconv.FormatInt(i, 10))
	if err != nil {
		panic("scope: int64 did not parse: " + err.Error())
	}
	return n
}

// Cmp compares n and m exactly: -1 if n < m, 0 if equal, +1 if n > m.
func (n Number) Cmp(m Number) int {
	ns, ms := n.sign(), m.sign()
	if ns != ms {
		if ns < ms {
			return -1
		}
		return 1
	}
	if ns == 0 {
		return 0
	}
	c := cmpMagnitude(n, m)
	if ns < 0 {
		return -c
	}
	return c
}

func (n Number) sign() int {
	switch {
	case n.digits == "":
		return 0
	case n.neg:
		return -1
	}
	return 1
}

// cmpMagnitude compares |n| and |m|, both non-zero, without allocating.
func cmpMagnitude(n, m Number) int {
	// The adjusted exponent (position of the leading digit) decides first.
	an := int64(len(n.digits)) + int64(n.exp)
	am := int64(len(m.digits)) + int64(m.exp)
	if an != am {
		if an < am {
			return -1
		}
		return 1
	}
	// Same leading position: compare digit strings left to right; trailing
	// digits are non-zero, so of two strings where one is a prefix of the
	// other, the longer is the larger.
	c := strings.Compare(n.digits, m.digits)
	return c
}

// String is the canonical text of n: a plain decimal when it is at most
// MaxDigits+6 characters long, otherwise d.ddd e±x notation. Canonical text
// parses back to the same Number.
func (n Number) String() string {
	if n.digits == "" {
		return "0"
	}
	var b strings.Builder
	if n.neg {
		b.WriteByte('-')
	}
	d, e := n.digits, int(n.exp)
	switch {
	case e >= 0 && len(d)+e <= MaxDigits:
		b.WriteString(d)
		b.WriteString(strings.Repeat("0", e))
	case e < 0 && -e < len(d):
		b.WriteString(d[:len(d)+e])
		b.WriteByte('.')
		b.WriteString(d[len(d)+e:])
	case e < 0 && -e-len(d) <= 6:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -e-len(d)))
		b.WriteString(d)
	default:
		b.WriteString(d[:1])
		if len(d) > 1 {
			b.WriteByte('.')
			b.WriteString(d[1:])
		}
		b.WriteByte('e')
		b.WriteString(strconv.Itoa(e + len(d) - 1))
	}
	return b.String()
}

// Kind is the type of a Value.
type Kind uint8

// The kinds of values. The zero Value is KindNone: an absent argument.
const (
	KindNone Kind = iota
	KindNumber
	KindString
	KindBool
	KindList
)

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	case KindList:
		return "list"
	}
	return "none"
}

// Value is an action argument or a constraint operand: a number, a
// string, a bool, or a list of those scalars.
type Value struct {
	kind Kind
	b    bool
	num  Number
	str  string
	list []Value
}

// NumberValue, StringValue, BoolValue and ListValue build values. A list
// holds scalars; a list inside a list is kept but never satisfies a
// constraint.
func NumberValue(n Number) Value       { return Value{kind: KindNumber, num: n} }
func IntValue(i int64) Value           { return NumberValue(NumberFromInt(i)) }
func StringValue(s string) Value       { return Value{kind: KindString, str: s} }
func BoolValue(b bool) Value           { return Value{kind: KindBool, b: b} }
func ListValue(items ...Value) Value   { return Value{kind: KindList, list: items} }
func (v Value) Kind() Kind             { return v.kind }
func (v Value) Number() (Number, bool) { return v.num, v.kind == KindNumber }
func (v Value) Str() (string, bool)    { return v.str, v.kind == KindString }
func (v Value) Bool() (value, ok bool) { return v.b, v.kind == KindBool }
func (v Value) List() ([]Value, bool)  { return v.list, v.kind == KindList }
func (v Value) equalScalar(w Value) bool {
	return v.kind == w.kind && v.b == w.b && v.num == w.num && v.str == w.str
}

// Equal reports whether v and w are the same value (lists element-wise).
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	if v.kind != KindList {
		return v.equalScalar(w)
	}
	if len(v.list) != len(w.list) {
		return false
	}
	for i := range v.list {
		if !v.list[i].Equal(w.list[i]) {
			return false
		}
	}
	return true
}

// String is v as canonical JSON text.
func (v Value) String() string {
	b, _ := v.MarshalJSON()
	return string(b)
}

// MarshalJSON writes v as canonical JSON: numbers in Number.String form,
// strings escaped by encoding/json without HTML escaping.
func (v Value) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	v.appendJSON(&buf)
	return buf.Bytes(), nil
}

func (v Value) appendJSON(buf *bytes.Buffer) {
	switch v.kind {
	case KindNumber:
		buf.WriteString(v.num.String())
	case KindString:
		writeJSONString(buf, v.str)
	case KindBool:
		buf.WriteString(strconv.FormatBool(v.b))
	case KindList:
		buf.WriteByte('[')
		for i, x := range v.list {
			if i > 0 {
				buf.WriteByte(',')
			}
			x.appendJSON(buf)
		}
		buf.WriteByte(']')
	default:
		buf.WriteString("null")
	}
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}

// MaxListLen bounds the items of a list value, in a constraint or a request.
const MaxListLen = 256

// ParseValue parses one JSON value as an argument: a number (exact, see
// ParseNumber), a string (valid UTF-8, at most MaxStringLen bytes), a bool,
// or a list of at most MaxListLen such scalars. null, objects, nested lists
// and trailing data are refused.
func ParseValue(data []byte) (Value, error) {
	n, err := parseJSON(data)
	if err != nil {
		return Value{}, err
	}
	return valueOf(n, true)
}

// UnmarshalJSON is ParseValue.
func (v *Value) UnmarshalJSON(data []byte) error {
	x, err := ParseValue(data)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

func valueOf(n *node, allowList bool) (Value, error) {
	switch n.kind {
	case nodeNumber:
		num, err := ParseNumber(n.str)
		if err != nil {
			return Value{}, err
		}
		return NumberValue(num), nil
	case nodeString:
		if len(n.str) > MaxStringLen {
			return Value{}, fmt.Errorf("string of %d bytes, over %d", len(n.str), MaxStringLen)
		}
		return StringValue(n.str), nil
	case nodeBool:
		return BoolValue(n.b), nil
	case nodeArray:
		if !allowList {
			return Value{}, errors.New("a list inside a list")
		}
		if len(n.arr) > MaxListLen {
			return Value{}, fmt.Errorf("list of %d items, over %d", len(n.arr), MaxListLen)
		}
		items := make([]Value, len(n.arr))
		for i := range n.arr {
			x, err := valueOf(&n.arr[i], false)
			if err != nil {
				return Value{}, fmt.Errorf("item %d: %w", i, err)
			}
			items[i] = x
		}
		return ListValue(items...), nil
	}
	return Value{}, fmt.Errorf("a %s is not a value", n.kind)
}

// node is a parsed JSON value that keeps member order and detects
// duplicate members, which encoding/json silently accepts.
type node struct {
	kind nodeKind
	str  string // string, or number literal
	b    bool
	arr  []node
	obj  []jmember
}

type jmember struct {
	name string
	val  node
}

type nodeKind uint8

const (
	nodeNull nodeKind = iota
	nodeBool
	nodeNumber
	nodeString
	nodeArray
	nodeObject
)

func (k nodeKind) String() string {
	return [...]string{"null", "bool", "number", "string", "array", "object"}[k]
}

const maxDepth = 8

// parseJSON parses exactly one JSON value. Invalid UTF-8 is refused
// (encoding/json would silently replace it), as are duplicate members and
// trailing data.
func parseJSON(data []byte) (*node, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseNode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return n, nil
}

func parseNode(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("JSON syntax: %w", err)
	}
	return parseTok(dec, tok, depth)
}

func parseTok(dec *json.Decoder, tok json.Token, depth int) (*node, error) {
	switch t := tok.(type) {
	case nil:
		return &node{kind: nodeNull}, nil
	case bool:
		return &node{kind: nodeBool, b: t}, nil
	case json.Number:
		return &node{kind: nodeNumber, str: string(t)}, nil
	case string:
		return &node{kind: nodeString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			n := &node{kind: nodeArray}
			for dec.More() {
				c, err := parseNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, *c)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("JSON syntax: %w", err)
			}
			return n, nil
		case '{':
			n := &node{kind: nodeObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("JSON syntax: %w", err)
				}
				name, ok := kt.(string)
				if !ok {
					return nil, errors.New("JSON syntax: member name not a string")
				}
				for _, m := range n.obj {
					if m.name == name {
						return nil, fmt.Errorf("duplicate member %q", clip(name))
					}
				}
				c, err := parseNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.obj = append(n.obj, jmember{name: name, val: *c})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("JSON syntax: %w", err)
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("JSON syntax: unexpected token %v", tok)
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
