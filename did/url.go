package did

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidDID is wrapped by every refusal of a DID or DID URL that does not
// follow the DID Core syntax (or, for did:key, the method's encoding).
var ErrInvalidDID = errors.New("invalid did")

// maxDIDURLLen bounds what the parsers look at. DID Core sets no limit; this
// one is far above any DID this service issues or accepts and keeps hostile
// input cheap.
const maxDIDURLLen = 2048

// DIDURL is a parsed DID URL (DID Core §3.2):
// did path-abempty [ "?" query ] [ "#" fragment ].
type DIDURL struct {
	// DID is the DID the URL starts with, "did:<method>:<method-specific-id>".
	DID string
	// Method is the method name, e.g. "key".
	Method string
	// Path is the path-abempty, with its leading "/", or "".
	Path string
	// Query is the query without the "?", or "" if there is none.
	Query string
	// Fragment is the fragment without the "#", or "" if there is none.
	Fragment string
}

// String reassembles the DID URL; for a value from ParseDIDURL it is the
// parsed string.
func (u DIDURL) String() string {
	var b strings.Builder
	b.WriteString(u.DID)
	b.WriteString(u.Path)
	if u.Query != "" {
		b.WriteString("?" + u.Query)
	}
	if u.Fragment != "" {
		b.WriteString("#" + u.Fragment)
	}
	return b.String()
}

// ParseDID checks that s is a bare DID (no path, query or fragment) per
// DID Core §3.1 and returns its method name.
func ParseDID(s string) (method string, err error) {
	u, err := ParseDIDURL(s)
	if err != nil {
		return "", err
	}
	if u.DID != s {
		return "", fmt.Errorf("%w: %q is a DID URL, not a bare DID", ErrInvalidDID, s)
	}
	return u.Method, nil
}

// ParseDIDURL parses s per the ABNF of DID Core §3.1 and §3.2. It is strict:
// the scheme and method name are lowercase, percent-encodings are well
// formed, and a "?" or "#" must be followed by a non-empty query or fragment
// (the grammar allows an empty one, but it names the same resource as none
// and we refuse ambiguous spellings).
func ParseDIDURL(s string) (DIDURL, error) {
	if len(s) > maxDIDURLLen {
		return DIDURL{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidDID, maxDIDURLLen)
	}
	rest, ok := strings.CutPrefix(s, "did:")
	if !ok {
		return DIDURL{}, fmt.Errorf("%w: %q does not start with \"did:\"", ErrInvalidDID, s)
	}
	method, rest, ok := strings.Cut(rest, ":")
	if !ok || method == "" {
		return DIDURL{}, fmt.Errorf("%w: %q has no method name", ErrInvalidDID, s)
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return DIDURL{}, fmt.Errorf("%w: method name %q has character %q (only a-z and 0-9)", ErrInvalidDID, method, c)
		}
	}
	// The method-specific id runs to the first "/", "?" or "#".
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	msid := rest[:end]
	if err := checkMethodSpecificID(msid); err != nil {
		return DIDURL{}, fmt.Errorf("%w: %q: %w", ErrInvalidDID, s, err)
	}
	u := DIDURL{DID: s[:len(s)-len(rest)+end], Method: method}
	rest = rest[end:]

	if i := strings.IndexByte(rest, '#'); i >= 0 {
		u.Fragment = rest[i+1:]
		if u.Fragment == "" {
			return DIDURL{}, fmt.Errorf("%w: %q: empty fragment", ErrInvalidDID, s)
		}
		if err := checkChars(u.Fragment, "/?"); err != nil {
			return DIDURL{}, fmt.Errorf("%w: %q: fragment: %w", ErrInvalidDID, s, err)
		}
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.Query = rest[i+1:]
		if u.Query == "" {
			return DIDURL{}, fmt.Errorf("%w: %q: empty query", ErrInvalidDID, s)
		}
		if err := checkChars(u.Query, "/?"); err != nil {
			return DIDURL{}, fmt.Errorf("%w: %q: query: %w", ErrInvalidDID, s, err)
		}
		rest = rest[:i]
	}
	u.Path = rest
	if u.Path != "" {
		if err := checkChars(u.Path, "/"); err != nil {
			return DIDURL{}, fmt.Errorf("%w: %q: path: %w", ErrInvalidDID, s, err)
		}
	}
	return u, nil
}

// checkMethodSpecificID checks method-specific-id = *( *idchar ":" ) 1*idchar,
// idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded.
func checkMethodSpecificID(id string) error {
	if id == "" || strings.HasSuffix(id, ":") {
		return errors.New("method-specific id is empty or ends with ':'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case isAlnum(c) || c == '.' || c == '-' || c == '_' || c == ':':
		case c == '%':
			if i+2 >= len(id) || !isHex(id[i+1]) || !isHex(id[i+2]) {
				return fmt.Errorf("bad percent-encoding at %d", i)
			}
			i += 2
		default:
			return fmt.Errorf("method-specific id has character %q", c)
		}
	}
	return nil
}

// checkChars checks that s is made of pchar (RFC 3986: unreserved /
// pct-encoded / sub-delims / ":" / "@") and the bytes of extra.
func checkChars(s, extra string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 || strings.IndexByte(extra, c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return fmt.Errorf("bad percent-encoding at %d", i)
			}
			i += 2
		default:
			return fmt.Errorf("character %q at %d", c, i)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
