package request

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The worked example of spec/signed-requests.md: every value printed there
// is computed here and must appear in the spec verbatim.
var exampleBody = []byte(`{"name":"alice"}`)

func exampleToken(t *testing.T) (kid, tok string, c Claims) {
	t.Helper()
	priv, _, kid := testKey(1)
	c = Claims{
		Audience:   "https://ledger.example",
		Method:     http.MethodPost,
		URI:        "/v1/owners?dryRun=1",
		BodyDigest: BodyDigest(exampleBody),
		IssuedAt:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
		ID:         "example-jti-0000000001",
	}
	c.Expires = c.IssuedAt + 60
	tok, err := Sign(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return kid, tok, c
}

func TestSpecExample(t *testing.T) {
	kid, tok, c := exampleToken(t)
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	spec, err := os.ReadFile("../../spec/signed-requests.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"kid":            kid,
		"body digest":    c.BodyDigest,
		"header":         string(header),
		"payload":        string(payload),
		"header b64":     parts[0],
		"payload b64":    parts[1],
		"signature b64":  parts[2],
		"authorization":  "Authorization: " + Scheme + " " + tok,
		"body":           string(exampleBody),
		"seed statement": "32 bytes of 0x01",
		"empty digest":   BodyDigest(nil),
	} {
		if !bytes.Contains(spec, []byte(want)) {
			t.Errorf("spec/signed-requests.md lacks the example's %s:\n%s", name, want)
		}
	}
	// The example verifies at iat + 1 s, and each error code the spec lists
	// is one of ours.
	r := httptest.NewRequest(c.Method, c.URI, bytes.NewReader(exampleBody))
	r.Header.Set("Authorization", Scheme+" "+tok)
	v := newVerifier(t, time.Unix(c.IssuedAt+1, 0), nil)
	v.c.Audience = c.Audience
	if _, err := v.Verify(context.Background(), r, exampleBody); err != nil {
		t.Fatalf("example does not verify: %v", err)
	}
	for _, code := range Codes() {
		if !bytes.Contains(spec, []byte("`"+string(code)+"`")) {
			t.Errorf("spec/signed-requests.md does not document %s", code)
		}
	}
	if testing.Verbose() {
		t.Logf("kid %s\nbd %s\nheader %s\npayload %s\ntoken %s", kid, c.BodyDigest, header, payload, tok)
	}
}
