package transparency_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// baseEntry is an entry with every field set; its canonical encoding is
// baseEntryJSON, written out by hand from spec/log-entry.md.
func baseEntry() *transparency.Entry {
	return &transparency.Entry{
		Version:       1,
		Type:          "action.decision",
		Time:          time.Date(2026, 3, 14, 15, 9, 26, 500_000_000, time.UTC),
		Actor:         "did:key:z6MkAgent",
		Owner:         "did:key:z6MkAlice",
		Subject:       "did:key:z6MkAgent",
		Authz:         &transparency.AuthzRef{Credential: "urn:uuid:1", Digest: digestA},
		Action:        "message/send",
		Resource:      "calendar/2026-03-15",
		Counterparty:  "did:key:z6MkBob",
		Decision:      transparency.DecisionAllowed,
		Reason:        "ABC",
		RequestDigest: digestB,
	}
}

const baseEntryJSON = `{"v":1,"type":"action.decision","time":"2026-03-14T15:09:26.5Z",` +
	`"actor":"did:key:z6MkAgent","owner":"did:key:z6MkAlice","subject":"did:key:z6MkAgent",` +
	`"authz":{"credential":"urn:uuid:1","digest":"` + digestA + `"},` +
	`"action":"message/send","resource":"calendar/2026-03-15","counterparty":"did:key:z6MkBob",` +
	`"decision":"allowed","reason":"ABC","request_digest":"` + digestB + `"}`

func entriesEqual(a, b *transparency.Entry) bool {
	if (a.Authz == nil) != (b.Authz == nil) || (a.Authz != nil && *a.Authz != *b.Authz) {
		return false
	}
	x, y := *a, *b
	x.Authz, y.Authz = nil, nil
	if !x.Time.Equal(y.Time) {
		return false
	}
	x.Time, y.Time = time.Time{}, time.Time{}
	return x == y
}

func TestEntryCanonicalEncoding(t *testing.T) {
	b, err := baseEntry().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != baseEntryJSON {
		t.Fatalf("canonical encoding:\n got %s\nwant %s", b, baseEntryJSON)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		e    *transparency.Entry
		// want is the expected canonical encoding, when the case is about it.
		want string
	}{
		{"full", baseEntry(), baseEntryJSON},
		{"minimal", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"v":1,"type":"operator.note","time":"2026-01-02T03:04:05Z"}`},
		{"nanoseconds", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
			`{"v":1,"type":"operator.note","time":"2026-01-02T03:04:05.123456789Z"}`},
		{"trailing zeros trimmed", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.UTC)},
			`{"v":1,"type":"operator.note","time":"2026-01-02T03:04:05.12Z"}`},
		{"other zone written as UTC", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(2026, 1, 2, 4, 4, 5, 0, paris)},
			`{"v":1,"type":"operator.note","time":"2026-01-02T03:04:05Z"}`},
		{"year 2000", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
			`{"v":1,"type":"operator.note","time":"2000-01-01T00:00:00Z"}`},
		{"year 9999", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
			`{"v":1,"type":"operator.note","time":"9999-12-31T23:59:59.999999999Z"}`},
		{"escapes", &transparency.Entry{Version: 1, Type: "operator.note", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Reason: "q\" b\\ n\n r\r t\t b\b f\f c\x01\x1f del\x7f <>&' / é € 😀 ls\u2028 ps\u2029"},
			`{"v":1,"type":"operator.note","time":"2026-01-02T03:04:05Z","reason":"q\" b\\ n\n r\r t\t b\b f\f c\u0001\u001f del` + "\x7f" + ` <>&' / é € 😀 ls\u2028 ps\u2029"}`},
		{"authz only", &transparency.Entry{Version: 1, Type: "vc.grant", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Authz: &transparency.AuthzRef{Credential: "urn:uuid:x", Digest: digestA}},
			`{"v":1,"type":"vc.grant","time":"2026-01-02T03:04:05Z","authz":{"credential":"urn:uuid:x","digest":"` + digestA + `"}}`},
		{"max field length", func() *transparency.Entry {
			e := baseEntry()
			e.Reason = strings.Repeat("r", 4096)
			return e
		}(), ""},
	}
	for i := range 12 {
		tests = append(tests, struct {
			name string
			e    *transparency.Entry
			want string
		}{"sample " + string(rune('a'+i)), sampleEntry(i), ""})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.e.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if tc.want != "" && string(b) != tc.want {
				t.Fatalf("marshal:\n got %s\nwant %s", b, tc.want)
			}
			got, err := transparency.ParseEntry(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !entriesEqual(got, tc.e) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.e)
			}
			if got.Time.Location() != time.UTC {
				t.Errorf("parsed time is in %v, want UTC", got.Time.Location())
			}
			b2, err := got.Marshal()
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-marshal: %v\n got %s\nwant %s", err, b2, b)
			}
		})
	}
}

// entryMutations are non-canonical or invalid variants of baseEntryJSON;
// each must be rejected by ParseEntry with ErrMalformed. They are also the
// bad entry vectors of spec/testdata and fuzz seeds.
func entryMutations() []struct{ name, old, new string } {
	return []struct{ name, old, new string }{
		{"unknown-field", `"request_digest"`, `"extra":1,"request_digest"`},
		{"unknown-field-in-authz", `"credential":`, `"issuer":"x","credential":`},
		{"wrong-version-2", `"v":1`, `"v":2`},
		{"wrong-version-0", `"v":1`, `"v":0`},
		{"version-as-float", `"v":1`, `"v":1.0`},
		{"version-as-string", `"v":1`, `"v":"1"`},
		{"whitespace-after-colon", `"v":1`, `"v": 1`},
		{"whitespace-after-comma", `,"type"`, `, "type"`},
		{"leading-whitespace", `{"v"`, ` {"v"`},
		{"trailing-newline", `"}`, "\"}\n"},
		{"key-order", `"v":1,"type":"action.decision"`, `"type":"action.decision","v":1`},
		{"key-order-in-authz", `"credential":"urn:uuid:1","digest":"` + digestA + `"`, `"digest":"` + digestA + `","credential":"urn:uuid:1"`},
		{"key-case", `"actor"`, `"Actor"`},
		{"escaped-letter", `"reason":"ABC"`, `"reason":"\u0041BC"`},
		{"escaped-slash", `"message/send"`, `"message\/send"`},
		{"escaped-html", `"reason":"ABC"`, `"reason":"\u003cBC"`},
		{"escaped-non-ascii", `"reason":"ABC"`, `"reason":"\u00e9BC"`},
		{"lone-surrogate", `"reason":"ABC"`, `"reason":"\ud800BC"`},
		{"time-offset-instead-of-z", `15:09:26.5Z`, `15:09:26.5+00:00`},
		{"time-other-offset", `15:09:26.5Z`, `16:09:26.5+01:00`},
		{"time-lowercase-z", `15:09:26.5Z`, `15:09:26.5z`},
		{"time-trailing-zeros", `15:09:26.5Z`, `15:09:26.500Z`},
		{"time-no-seconds", `15:09:26.5Z`, `15:09Z`},
		{"time-space-separator", `2026-03-14T15`, `2026-03-14 15`},
		{"time-before-2000", `2026-03-14`, `1999-03-14`},
		{"time-missing", `"time":"2026-03-14T15:09:26.5Z",`, ``},
		{"duplicate-key", `"v":1,`, `"v":1,"v":1,`},
		{"duplicate-key-differing", `"reason":"ABC"`, `"reason":"XYZ","reason":"ABC"`},
		{"invalid-utf8", `"reason":"ABC"`, "\"reason\":\"A\xffBC\""},
		{"bad-type-uppercase", `"action.decision"`, `"Action.decision"`},
		{"bad-type-one-word", `"action.decision"`, `"action"`},
		{"bad-type-empty-word", `"action.decision"`, `"action..decision"`},
		{"bad-type-missing", `"type":"action.decision",`, ``},
		{"bad-digest-no-prefix", digestB, digestB[len("sha256:"):]},
		{"bad-digest-hex-uppercase", digestB, "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"},
		{"bad-digest-short", digestB, digestB[:len(digestB)-2]},
		{"bad-digest-algorithm", digestB, "sha512:" + digestB[7:]},
		{"bad-authz-digest", `"digest":"` + digestA, `"digest":"` + digestA[:20]},
		{"empty-authz-credential", `"credential":"urn:uuid:1"`, `"credential":""`},
		{"null-authz", `"authz":{"credential":"urn:uuid:1","digest":"` + digestA + `"}`, `"authz":null`},
		{"empty-optional-present", `"reason":"ABC"`, `"reason":""`},
		{"unknown-decision", `"allowed"`, `"maybe"`},
		{"actor-not-a-did", `"actor":"did:key:z6MkAgent"`, `"actor":"agent-1"`},
		{"trailing-data", `"}`, `"}{}`},
		{"trailing-garbage", `"}`, `"}x`},
		{"trailing-bracket", `"}`, `"}]`},
		{"not-an-object", baseEntryJSON, "[" + baseEntryJSON + "]"},
	}
}

func TestParseEntryRejects(t *testing.T) {
	for _, tc := range entryMutations() {
		t.Run(tc.name, func(t *testing.T) {
			b := strings.Replace(baseEntryJSON, tc.old, tc.new, 1)
			if b == baseEntryJSON {
				t.Fatalf("mutation %q -> %q changed nothing", tc.old, tc.new)
			}
			_, err := transparency.ParseEntry([]byte(b))
			if got := errClass(err); got != "malformed" {
				t.Fatalf("ParseEntry(%s): error %v (class %s), want ErrMalformed", b, err, got)
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		b := make([]byte, transparency.MaxEntrySize+1)
		copy(b, baseEntryJSON)
		for i := len(baseEntryJSON); i < len(b); i++ {
			b[i] = ' '
		}
		if _, err := transparency.ParseEntry(b); errClass(err) != "malformed" {
			t.Fatalf("oversized: %v, want ErrMalformed", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := transparency.ParseEntry(nil); errClass(err) != "malformed" {
			t.Fatalf("empty: %v, want ErrMalformed", err)
		}
	})
}

func TestEntryMarshalRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *transparency.Entry)
	}{
		{"version 0", func(e *transparency.Entry) { e.Version = 0 }},
		{"version 2", func(e *transparency.Entry) { e.Version = 2 }},
		{"empty type", func(e *transparency.Entry) { e.Type = "" }},
		{"type with space", func(e *transparency.Entry) { e.Type = "action decision" }},
		{"type starting with digit", func(e *transparency.Entry) { e.Type = "1action.decision" }},
		{"type too long", func(e *transparency.Entry) { e.Type = "a." + strings.Repeat("b", 127) }},
		{"zero time", func(e *transparency.Entry) { e.Time = time.Time{} }},
		{"time before 2000", func(e *transparency.Entry) { e.Time = time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC) }},
		{"time after 9999", func(e *transparency.Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"owner not a DID", func(e *transparency.Entry) { e.Owner = "alice" }},
		{"counterparty not a DID", func(e *transparency.Entry) { e.Counterparty = "bob" }},
		{"reason too long", func(e *transparency.Entry) { e.Reason = strings.Repeat("r", 4097) }},
		{"resource too long", func(e *transparency.Entry) { e.Resource = strings.Repeat("r", 4097) }},
		{"invalid UTF-8", func(e *transparency.Entry) { e.Subject = "a\xffb" }},
		{"authz without credential", func(e *transparency.Entry) { e.Authz.Credential = "" }},
		{"authz credential invalid UTF-8", func(e *transparency.Entry) { e.Authz.Credential = "\xc3" }},
		{"authz bad digest", func(e *transparency.Entry) { e.Authz.Digest = "sha256:" }},
		{"unknown decision", func(e *transparency.Entry) { e.Decision = "maybe" }},
		{"bad request digest", func(e *transparency.Entry) { e.RequestDigest = "abc" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := baseEntry()
			tc.mutate(e)
			if err := e.Validate(); errClass(err) != "malformed" {
				t.Errorf("Validate: %v, want ErrMalformed", err)
			}
			b, err := e.Marshal()
			if errClass(err) != "malformed" || b != nil {
				t.Errorf("Marshal: %q, %v; want nil, ErrMalformed", b, err)
			}
		})
	}
	t.Run("entry larger than MaxEntrySize", func(t *testing.T) {
		// Every field at its limit, with characters that escape to six
		// bytes, is well over 64 KiB.
		long := strings.Repeat("\x01", 4096)
		e := baseEntry()
		e.Subject, e.Action, e.Resource, e.Reason = long, long, long, long
		if err := e.Validate(); err != nil {
			t.Fatalf("Validate: %v (fields are within limits)", err)
		}
		if _, err := e.Marshal(); errClass(err) != "malformed" {
			t.Fatalf("Marshal: %v, want ErrMalformed", err)
		}
	})
}

func TestDigestSHA256(t *testing.T) {
	var sum [32]byte
	for i := range sum {
		sum[i] = byte(i)
	}
	got := transparency.DigestSHA256(sum)
	want := "sha256:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	if got != want {
		t.Fatalf("DigestSHA256 = %s, want %s", got, want)
	}
	e := baseEntry()
	e.RequestDigest = got
	if err := e.Validate(); err != nil {
		t.Fatalf("entry with DigestSHA256 output: %v", err)
	}
}

func TestParseEntryErrorIsNotVerification(t *testing.T) {
	_, err := transparency.ParseEntry([]byte(`{}`))
	if !errors.Is(err, transparency.ErrMalformed) || errors.Is(err, transparency.ErrVerification) {
		t.Fatalf("ParseEntry({}) = %v, want ErrMalformed only", err)
	}
}
