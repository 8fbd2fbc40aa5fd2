package delegation

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// The worked examples of spec/delegation-credential.md are the good
// vectors, issued again here: the spec must show them verbatim, with their
// digests, and document every code.
func TestSpecExample(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(t)
	tok, err := IssueJWT(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	ldp, err := IssueLDP(priv, kid, c, c.IssuanceDate)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile("../../spec/delegation-credential.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"token":      strings.ReplaceAll(tok, ".", ".\n"),
		"ldp":        string(ldp),
		"jwt digest": Digest([]byte(tok)),
		"ldp digest": Digest(ldp),
	} {
		if !bytes.Contains(spec, []byte(want)) {
			t.Errorf("spec/delegation-credential.md lacks the example's %s:\n%s", name, want)
		}
	}
	if !bytes.Equal(mustRead(t, vectorDir+"/good/jwt.jwt"), []byte(tok)) || !bytes.Equal(mustRead(t, vectorDir+"/good/ldp.json"), ldp) {
		t.Error("the good vectors are not what IssueJWT and IssueLDP make (regenerate with -update)")
	}
	for _, raw := range [][]byte{[]byte(tok), ldp} {
		for _, now := range []string{"2025-12-31T23:59:00Z", "2026-07-01T00:01:00Z"} {
			if _, err := Verify(context.Background(), raw, VerifyOptions{Resolve: (&testResolver{}).resolve, Now: mustTime(t, now)}); err != nil {
				t.Errorf("at %s: %v", now, err)
			}
		}
	}
	for _, code := range Codes {
		if !bytes.Contains(spec, []byte("`"+string(code)+"`")) {
			t.Errorf("spec/delegation-credential.md does not document %s", code)
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}
