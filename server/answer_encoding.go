package server

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/clawnet/ledger/transparency"
)

// appendActionAnswer appends a to dst exactly as json.Marshal(a) encodes
// it, without reflection: json.Marshal spent about 40 allocations per
// answer, most of them one per proof hash (MarshalText, then quoting).
// The delivery, rare, is still encoded by json.Marshal, so that its
// json.RawMessage is compacted and HTML-escaped as Marshal does; its
// error is the only one returned. TestAppendActionAnswer and
// FuzzAppendActionAnswer hold it to json.Marshal's bytes.
func appendActionAnswer(dst []byte, a *actionAnswer) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, a.ID)
	dst = append(dst, `,"decision":`...)
	dst = appendJSONString(dst, string(a.Decision))
	dst = append(dst, `,"reason":`...)
	dst = appendJSONString(dst, a.Reason)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendUint(dst, a.Index, 10)
	dst = append(dst, `,"receipt":`...)
	if rc := a.Receipt; rc == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"format":`...)
		dst = appendJSONString(dst, rc.Format)
		dst = append(dst, `,"index":`...)
		dst = strconv.AppendUint(dst, rc.Index, 10)
		dst = append(dst, `,"entry":`...)
		if rc.Entry == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, rc.Entry)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"inclusion_proof":`...)
		if rc.InclusionProof == nil {
			dst = append(dst, "null"...)
		} else {
			dst = appendHashesJSON(dst, rc.InclusionProof)
		}
		dst = append(dst, `,"checkpoint":`...)
		dst = appendJSONString(dst, rc.Checkpoint)
		dst = append(dst, '}')
	}
	if a.Escalate != "" {
		dst = append(dst, `,"escalation":`...)
		dst = appendJSONString(dst, a.Escalate)
	}
	if a.Delivery != nil {
		b, err := json.Marshal(a.Delivery)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"delivery":`...)
		dst = append(dst, b...)
	}
	if a.Answer != "" {
		dst = append(dst, `,"answer":`...)
		dst = appendJSONString(dst, string(a.Answer))
	}
	if a.AnswerIndex != 0 {
		dst = append(dst, `,"answer_index":`...)
		dst = strconv.AppendUint(dst, a.AnswerIndex, 10)
	}
	return append(dst, '}'), nil
}

// actionAnswerSize is about the length of a's encoding, for one
// allocation in the common case: strings counted unescaped, plus the
// trailing newline writeJSONBytes appends.
func actionAnswerSize(a *actionAnswer) int {
	n := 160 + len(a.ID) + len(a.Decision) + len(a.Reason) + len(a.Escalate) + len(a.Answer)
	if rc := a.Receipt; rc != nil {
		n += len(rc.Format) + base64.StdEncoding.EncodedLen(len(rc.Entry)) + 47*len(rc.InclusionProof) + len(rc.Checkpoint)
	}
	if dl := a.Delivery; dl != nil {
		n += 64 + len(dl.Message) + len(dl.Recipient) + len(dl.Receipt)
	}
	return n
}

// appendJSONString appends s quoted as encoding/json's appendString does
// with HTML escaping on (json.Marshal's default): <, > and & as \u003c,
// \u003e, \u0026; U+2028 and U+2029 escaped; each byte of invalid UTF-8
// as \ufffd; control characters as \u00XX but for \b, \f, \n, \r, \t.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonHTMLSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonHTMLSafe is encoding/json's htmlSafeSet: the ASCII bytes written
// as they are inside a string when HTML escaping is on.
var jsonHTMLSafe = func() (t [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendHashesJSON appends hs as json.Marshal writes a []transparency.Hash:
// an array of standard base64 strings (Hash.MarshalText; base64 needs no
// escape).
func appendHashesJSON(dst []byte, hs []transparency.Hash) []byte {
	dst = append(dst, '[')
	for i := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, hs[i][:])
		dst = append(dst, '"')
	}
	return append(dst, ']')
}
