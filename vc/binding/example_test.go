package binding

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"
)

// The worked example of spec/binding-credential.md is the vector
// good/identity.jwt: every value printed there is computed here and must
// appear in the spec verbatim, and every code must be documented.
func TestSpecExample(t *testing.T) {
	mf, _ := generateVectors(t)
	var v vector
	for _, x := range mf.Vectors {
		if x.Name == "identity" {
			v = x
		}
	}
	parts := strings.Split(v.token, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	spec, err := os.ReadFile("../../spec/binding-credential.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	// The spec wraps the token at its dots, one part a line.
	for name, want := range map[string]string{
		"owner":          ownerDID,
		"kid":            ownerKID,
		"agent":          agentDID,
		"header":         string(header),
		"payload":        string(payload),
		"header b64":     parts[0] + ".",
		"payload b64":    parts[1] + ".",
		"signature b64":  parts[2],
		"digest":         v.Digest,
		"seed statement": "32 bytes of 0x11",
		"jti":            v.Binding.ID,
	} {
		if !bytes.Contains(spec, []byte(want)) {
			t.Errorf("spec/binding-credential.md lacks the example's %s:\n%s", name, want)
		}
	}
	got, err := Verify(context.Background(), v.token, newTestResolver().resolve, mustTime(t, vectorNow))
	if err != nil {
		t.Fatalf("the example does not verify: %v", err)
	}
	if got.Digest != v.Digest {
		t.Errorf("digest %s", got.Digest)
	}
	for _, code := range allCodes {
		if !bytes.Contains(spec, []byte("`"+string(code)+"`")) {
			t.Errorf("spec/binding-credential.md does not document %s", code)
		}
	}
	if testing.Verbose() {
		t.Logf("owner %s\nkid %s\nagent %s\nheader %s\npayload %s\n%s.\n%s.\n%s\ndigest %s", ownerDID, ownerKID, agentDID, header, payload, parts[0], parts[1], parts[2], v.Digest)
	}
}
