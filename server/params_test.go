package server

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
)

func TestParseUint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{"00", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"1_000", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"١", 0, false}, // Arabic-Indic digit one
	} {
		got, err := parseUint(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseUint(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseLeafHash(t *testing.T) {
	var h transparency.Hash
	for i := range h {
		h[i] = byte(i*7 + 1)
	}
	copy(h[:], []byte{0xfb, 0xff, 0xbf}) // "+/+/" in standard base64
	std := base64.StdEncoding.EncodeToString(h[:])
	if !strings.Contains(std, "+") || !strings.Contains(std, "/") {
		t.Fatalf("test hash %s does not exercise both + and /", std)
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"hex", hex.EncodeToString(h[:]), true},
		{"upper hex", strings.ToUpper(hex.EncodeToString(h[:])), true},
		{"std", std, true},
		{"std raw", base64.RawStdEncoding.EncodeToString(h[:]), true},
		{"url", base64.URLEncoding.EncodeToString(h[:]), true},
		{"url raw", base64.RawURLEncoding.EncodeToString(h[:]), true},
		{"plus as space", strings.ReplaceAll(std, "+", " "), true},
		{"empty", "", false},
		{"short hex", hex.EncodeToString(h[:31]), false},
		{"long hex", hex.EncodeToString(append(h[:], 0)), false},
		{"hex with junk", hex.EncodeToString(h[:31]) + "zz", false},
		{"31 bytes b64", base64.StdEncoding.EncodeToString(h[:31]), false},
		{"33 bytes b64", base64.StdEncoding.EncodeToString(append(h[:], 1)), false},
		{"extra padding", std + "=", false},
		{"wrong padding", strings.TrimSuffix(std, "=") + "==", false},
		{"mixed alphabets", strings.Replace(std, "+", "-", 1), false},
		{"non-canonical trailing bits", std[:42] + "B=", false},
		{"newline", std[:20] + "\n" + std[20:], false},
		{"garbage", "not a hash", false},
	} {
		got, err := parseLeafHash(tc.in)
		if tc.ok {
			if err != nil || got != h {
				t.Errorf("%s: parseLeafHash(%q) = %x, %v", tc.name, tc.in, got, err)
			}
			continue
		}
		var ae *apiError
		if err == nil || !errors.As(err, &ae) || ae.code != CodeBadHash {
			t.Errorf("%s: parseLeafHash(%q) = %x, %v; want a bad_hash error", tc.name, tc.in, got, err)
		}
	}
}

func TestDecodeOperatorNote(t *testing.T) {
	s := &Server{clock: func() time.Time { return testNow }}
	for _, tc := range []struct {
		name, body string
		code       string // "" = accepted
	}{
		{"minimal", `{"reason":"r"}`, ""},
		{"all fields", `{"reason":"r","resource":"doc:1","request_digest":"sha256:` + strings.Repeat("a", 64) + `"}`, ""},
		{"whitespace around", " \n{\"reason\":\"r\"}\n ", ""},
		{"empty", ``, CodeBadJSON},
		{"null", `null`, CodeBadJSON},
		{"string", `"r"`, CodeBadJSON},
		{"unknown field", `{"reason":"r","type":"x"}`, CodeBadJSON},
		{"case-folded field", `{"Reason":"r"}`, CodeBadJSON},
		{"duplicate field", `{"reason":"r","reason":"s"}`, CodeBadJSON},
		{"invalid UTF-8", "{\"reason\":\"\xff\"}", CodeBadJSON},
		{"lone surrogate escape", `{"reason":"\ud800"}`, ""},
		{"duplicate object", `{"reason":"r"}{}`, CodeBadJSON},
		{"wrong type", `{"reason":["r"]}`, CodeBadJSON},
		{"no reason", `{}`, CodeInvalidEntry},
		{"uppercase digest", `{"reason":"r","request_digest":"sha256:` + strings.Repeat("A", 64) + `"}`, CodeInvalidEntry},
		{"long resource", `{"reason":"r","resource":"` + strings.Repeat("x", 4097) + `"}`, CodeInvalidEntry},
	} {
		_, err := s.decodeOperatorNote([]byte(tc.body))
		var code string
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("%s: error %v is not an apiError", tc.name, err)
			}
			code = ae.code
		}
		if code != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.name, code, tc.code, err)
		}
	}
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "1", "18446744073709551615", "18446744073709551616", "-1", "01", "+1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseUint(s)
		if err != nil {
			return
		}
		// Accepted means canonical: one number, one spelling.
		if strconv.FormatUint(v, 10) != s {
			t.Errorf("parseUint(%q) = %d, not canonical", s, v)
		}
	})
}

func FuzzParseLeafHash(f *testing.F) {
	h := transparency.LeafHash([]byte("seed"))
	for _, s := range []string{
		hex.EncodeToString(h[:]), base64.StdEncoding.EncodeToString(h[:]),
		base64.RawURLEncoding.EncodeToString(h[:]), "", "zz", strings.Repeat("=", 44),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseLeafHash(s)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("parseLeafHash(%q): error %v is not a 400", s, err)
			}
			return
		}
		// Whatever spelling was accepted decodes to the bytes it spells:
		// re-encoding in the same family gives the input back.
		candidates := []string{
			hex.EncodeToString(got[:]), strings.ToUpper(hex.EncodeToString(got[:])),
			base64.StdEncoding.EncodeToString(got[:]), base64.RawStdEncoding.EncodeToString(got[:]),
			base64.URLEncoding.EncodeToString(got[:]), base64.RawURLEncoding.EncodeToString(got[:]),
		}
		in := strings.ReplaceAll(s, " ", "+")
		for _, c := range candidates {
			if strings.EqualFold(c, in) && (c == in || len(in) == 64) {
				return
			}
		}
		t.Errorf("parseLeafHash(%q) = %x, which no canonical spelling matches", s, got)
	})
}

func FuzzDecodeOperatorNote(f *testing.F) {
	for _, s := range []string{
		`{"reason":"r"}`, `{"reason":"r","resource":"x","request_digest":"sha256:` + strings.Repeat("0", 64) + `"}`,
		`{}`, `null`, `{"reason":"r"} x`, `{"reason":"\u00e9\ud800"}`, `{"reason":1}`,
	} {
		f.Add([]byte(s))
	}
	s := &Server{clock: func() time.Time { return testNow }}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := s.decodeOperatorNote(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("error %v is not a 400 apiError", err)
			}
			return
		}
		// An accepted note is a valid, canonical entry of the right kind.
		b, err := e.Marshal()
		if err != nil {
			t.Fatalf("accepted note does not marshal: %v", err)
		}
		back, err := transparency.ParseEntry(b)
		if err != nil {
			t.Fatalf("accepted note does not parse back: %v", err)
		}
		if back.Type != OperatorNoteType || back.Decision != OperatorNoteDecision || back.Reason == "" || !back.Time.Equal(testNow) {
			t.Errorf("accepted note became %+v", back)
		}
	})
}
