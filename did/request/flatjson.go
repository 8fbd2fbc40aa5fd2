package request

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The JWS header and the claims of a signed request are small flat JSON
// objects, parsed on every request. decodeFlat parses them in one pass,
// with the strictness that a general decoder lacks: each member name at
// most once, no name outside the allowed list (matched exactly, where
// encoding/json would match case-insensitively and take the last of
// duplicates), nothing after the object. Values are what encoding/json
// would make of them for a string or int64 field, null included (the zero
// value); TestDecodeFlatMatchesEncodingJSON and FuzzDecodeFlat hold it to
// that.

// flatField is one member a flat object may have, and where its value goes:
// exactly one of str and num is set.
type flatField struct {
	name string
	str  *string
	num  *int64
}

// decodeFlat decodes data, one JSON object, into fields. With required,
// every field must be present. A name not among fields is an
// *unknownMemberError, reported as soon as it is read.
func decodeFlat(data []byte, fields []flatField, required bool) error {
	var seen uint64 // bit i: fields[i] seen (at most 64 fields)
	var typeErr error
	p := flatParser{b: data}
	p.ws()
	if !p.eat('{') {
		return p.syntax("want '{'")
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			name, err := p.str()
			if err != nil {
				return err
			}
			i := 0
			for i < len(fields) && fields[i].name != name {
				i++
			}
			if i == len(fields) {
				return &unknownMemberError{name}
			}
			if seen&(1<<i) != 0 {
				return fmt.Errorf("duplicate member %q", name)
			}
			seen |= 1 << i
			p.ws()
			if !p.eat(':') {
				return p.syntax("want ':'")
			}
			p.ws()
			terr, err := p.value(&fields[i])
			if err != nil {
				return err
			}
			if typeErr == nil {
				typeErr = terr
			}
			p.ws()
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return p.syntax("want ',' or '}'")
			}
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return errors.New("data after the JSON object")
	}
	if required {
		for i, f := range fields {
			if seen&(1<<i) == 0 {
				return fmt.Errorf("member %q missing", f.name)
			}
		}
	}
	return typeErr
}

type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) syntax(msg string) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.i, msg)
}

func (p *flatParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *flatParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a JSON string. Plain ASCII without escapes (all a signed
// request's header and claims ever hold when well made) is taken as is;
// anything else goes through encoding/json, so that escapes and invalid
// UTF-8 come out exactly as it makes them.
func (p *flatParser) str() (string, error) {
	if !p.eat('"') {
		return "", p.syntax("want a string")
	}
	start := p.i
	plain := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			if plain {
				return string(p.b[start : p.i-1]), nil
			}
			var s string
			if err := json.Unmarshal(p.b[start-1:p.i], &s); err != nil {
				return "", err
			}
			return s, nil
		case c == '\\':
			plain = false
			p.i++ // the escaped byte is never the closing quote
		case c < 0x20:
			return "", p.syntax("control character in a string")
		case c >= 0x80:
			plain = false
		}
	}
	return "", p.syntax("unterminated string")
}

// value reads the value of f: a string for a string field, an integer for
// a number field, or null (leaving the zero value). A syntax error is err;
// a well-formed value of the wrong type is typeErr, which the caller keeps
// for the end, as encoding/json does (so that an unknown member later in
// the object is still reported as such).
func (p *flatParser) value(f *flatField) (typeErr, err error) {
	if p.i >= len(p.b) {
		return nil, p.syntax("want a value")
	}
	switch c := p.b[p.i]; {
	case c == 'n':
		return nil, p.literal("null")
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		if f.str == nil {
			return fmt.Errorf("member %q: want an integer", f.name), nil
		}
		*f.str = s
		return nil, nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		integer, err := p.number()
		switch {
		case err != nil:
			return nil, err
		case f.num == nil:
			return fmt.Errorf("member %q: want a string", f.name), nil
		case !integer:
			return fmt.Errorf("member %q: want an integer", f.name), nil
		}
		n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
		if err != nil {
			return fmt.Errorf("member %q: %w", f.name, err), nil
		}
		*f.num = n
		return nil, nil
	}
	if err := p.skip(0); err != nil {
		return nil, err
	}
	return fmt.Errorf("member %q: want a string or an integer", f.name), nil
}

func (p *flatParser) literal(lit string) error {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return p.syntax("want " + lit)
	}
	p.i += len(lit)
	return nil
}

// number reads a JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// and reports whether it is an integer (no fraction, no exponent).
func (p *flatParser) number() (integer bool, err error) {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false, p.syntax("want a digit")
	}
	integer = true
	if p.eat('.') {
		integer = false
		if p.digits() == 0 {
			return false, p.syntax("want a digit after '.'")
		}
	}
	if p.eat('e') || p.eat('E') {
		integer = false
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return false, p.syntax("want a digit in the exponent")
		}
	}
	return integer, nil
}

func (p *flatParser) digits() int {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// maxSkipDepth bounds the nesting of a value skipped over; encoding/json's
// own bound is 10000, and no header or claim set nests at all.
const maxSkipDepth = 10000

// skip reads any JSON value.
func (p *flatParser) skip(depth int) error {
	if depth > maxSkipDepth {
		return p.syntax("nested too deeply")
	}
	if p.i >= len(p.b) {
		return p.syntax("want a value")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, err := p.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, err := p.number()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '[' || c == '{':
		p.i++
		end := byte(']')
		if c == '{' {
			end = '}'
		}
		p.ws()
		if p.eat(end) {
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.eat(':') {
					return p.syntax("want ':'")
				}
				p.ws()
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(end) {
				return nil
			}
			if !p.eat(',') {
				return p.syntax("want ',' or the end of the value")
			}
		}
	}
	return p.syntax("want a value")
}
