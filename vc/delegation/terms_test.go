package delegation

import (
	"context"
	"testing"
)

// An undefined term is found wherever it is: at the top, in the subject,
// in a scope, in a constraint, in the status entry, in the proof.
func TestUndefinedTermEverywhere(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(t)
	good, err := IssueLDP(priv, kid, c, c.IssuanceDate)
	if err != nil {
		t.Fatal(err)
	}
	sub := func(m map[string]any) map[string]any { return m["credentialSubject"].(map[string]any) }
	scope0 := func(m map[string]any) map[string]any { return sub(m)["scopes"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name string
		f    func(m map[string]any)
		code Code
	}{
		{"top", func(m map[string]any) { m["nickname"] = "x" }, CodeUndefinedTerm},
		{"top-object", func(m map[string]any) { m["extra"] = map[string]any{"a": 1} }, CodeUndefinedTerm},
		{"subject", func(m map[string]any) { sub(m)["nickname"] = "x" }, CodeUndefinedTerm},
		{"scope", func(m map[string]any) { scope0(m)["budget"] = 5 }, CodeUndefinedTerm},
		{"constraint", func(m map[string]any) { scope0(m)["constraints"].([]any)[0].(map[string]any)["unit"] = "usd" }, CodeUndefinedTerm},
		{"status", func(m map[string]any) { m["credentialStatus"].(map[string]any)["note"] = "x" }, CodeUndefinedTerm},
		{"proof", func(m map[string]any) { m["proof"].(map[string]any)["note"] = "x" }, CodeUndefinedTerm},
		// Defined by a context but not part of the profile: malformed.
		{"defined-top", func(m map[string]any) { m["evidence"] = "urn:example:e" }, CodeMalformed},
		{"defined-status", func(m map[string]any) { m["credentialStatus"].(map[string]any)["statusSize"] = 1 }, CodeStatusInvalid},
		{"defined-proof", func(m map[string]any) { m["proof"].(map[string]any)["challenge"] = "x" }, CodeMalformed},
		// A keyword out of place is dropped by JSON-LD like an undefined term.
		{"keyword", func(m map[string]any) { m["@vocab"] = "https://evil.example/#" }, CodeUndefinedTerm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := mutateJSON(t, good, tc.f)
			if _, err := Verify(context.Background(), raw, testOptions(t)); CodeOf(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}
