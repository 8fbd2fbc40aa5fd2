package delegation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did"
)

// The vectors of spec/testdata/delegation: good credentials in both formats
// and bad ones named after their mutation, each with the code Verify must
// give, at vectorNow, with did:key resolved locally and the did:web
// documents of dids/. Regenerate with: go test ./vc/delegation -run
// TestVectors -update

var update = flag.Bool("update", false, "rewrite spec/testdata/delegation")

const vectorDir = "../../spec/testdata/delegation"

type vector struct {
	File   string `json:"file"`
	Format Format `json:"format"`
	Code   Code   `json:"code"` // "" for a good vector
	Why    string `json:"why"`
}

type manifest struct {
	Now     string   `json:"now"`
	Vectors []vector `json:"vectors"`
}

func signRaw(priv ed25519.PrivateKey, header, payload string) string {
	b64 := base64.RawURLEncoding
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return in + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

// mutateJSON decodes doc, applies f to the generic form and encodes it.
func mutateJSON(t *testing.T, doc []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func buildVectors(t *testing.T) map[string]vector {
	t.Helper()
	owner, ownerDID, kid := keyDID(seedOwner)
	other, otherDID, otherKID := keyDID(seedOther)
	c := testCredential(t)
	ldp := func(priv ed25519.PrivateKey, vm string, c Credential) []byte {
		doc, err := IssueLDP(priv, vm, c, c.IssuanceDate)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	jwt := func(priv ed25519.PrivateKey, kid string, c Credential) []byte {
		tok, err := IssueJWT(priv, kid, c)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(tok)
	}
	good := ldp(owner, kid, c)
	goodJWT := jwt(owner, kid, c)
	_, payload := splitJWT(t, string(goodJWT))

	expired, notYet, alice, gone, sub := c, c, c, c, c
	expired.IssuanceDate, expired.ExpirationDate = mustTime(t, "2025-01-01T00:00:00Z"), mustTime(t, "2025-06-01T00:00:00Z")
	notYet.IssuanceDate, notYet.ExpirationDate = mustTime(t, "2026-06-01T00:00:00Z"), mustTime(t, "2026-12-01T00:00:00Z")
	alice.Issuer = aliceDID
	gone.Issuer = goneDID
	sub.Issuer, sub.ParentCredential, sub.MaxSubdelegationDepth, sub.ID = otherDID, c.ID, 0, fixedID(t, 0x42)

	sig := func(doc []byte) []byte {
		return mutateJSON(t, doc, func(m map[string]any) {
			p := m["proof"].(map[string]any)
			b, _ := did.Base58Decode(p["proofValue"].(string)[1:]) // drop the multibase 'z'
			b[0] ^= 1
			p["proofValue"] = "z" + did.Base58Encode(b)
		})
	}
	files := map[string][]byte{
		"good/ldp.json":                     good,
		"good/jwt.jwt":                      goodJWT,
		"good/ldp-did-web.json":             ldp(seedKey(seedAliceKey1), aliceDID+"#key-1", alice),
		"good/ldp-subdelegation.json":       ldp(other, otherKID, sub),
		"good/jwt-subdelegation.jwt":        jwt(other, otherKID, sub),
		"bad/ldp-tampered-proof.json":       sig(good),
		"bad/ldp-tampered-subject.json":     mutateJSON(t, good, func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = otherDID }),
		"bad/ldp-tampered-scopes.json":      bytes.Replace(good, []byte(`"calendar/work/**"`), []byte(`"**"`), 1),
		"bad/ldp-wrong-key.json":            ldp(other, kid, c),
		"bad/ldp-not-assertion-method.json": ldp(seedKey(seedAliceKey2), aliceDID+"#key-2", alice),
		"bad/ldp-expired.json":              ldp(owner, kid, expired),
		"bad/ldp-not-yet-valid.json":        ldp(owner, kid, notYet),
		"bad/ldp-undefined-term.json":       mutateJSON(t, good, func(m map[string]any) { m["credentialSubject"].(map[string]any)["nickname"] = "bob" }),
		"bad/ldp-undefined-term-in-scope.json": mutateJSON(t, good, func(m map[string]any) {
			m["credentialSubject"].(map[string]any)["scopes"].([]any)[0].(map[string]any)["budget"] = 5
		}),
		"bad/ldp-unknown-context.json": mutateJSON(t, good, func(m map[string]any) {
			m["@context"] = append(m["@context"].([]any), map[string]any{"nickname": "https://evil.example/#nickname"})
		}),
		"bad/ldp-remote-context.json": mutateJSON(t, good, func(m map[string]any) {
			m["@context"] = append(m["@context"].([]any), "https://evil.example/contexts/v1")
		}),
		"bad/ldp-extra-member.json":        mutateJSON(t, good, func(m map[string]any) { m["evidence"] = []any{"urn:example:e"} }),
		"bad/ldp-issuer-mismatch.json":     ldpUnchecked(t, other, otherKID, c),
		"bad/ldp-issuer-unresolvable.json": ldp(seedKey(seedOther), goneDID+"#key-1", gone),
		"bad/ldp-scopes-empty.json":        mutateJSON(t, good, func(m map[string]any) { m["credentialSubject"].(map[string]any)["scopes"] = []any{} }),
		"bad/ldp-status-suspension.json":   mutateJSON(t, good, func(m map[string]any) { m["credentialStatus"].(map[string]any)["statusPurpose"] = "suspension" }),
		"bad/ldp-proof-type-2018.json":     mutateJSON(t, good, func(m map[string]any) { m["proof"].(map[string]any)["type"] = "Ed25519Signature2018" }),
		"bad/ldp-no-proof.json":            mutateJSON(t, good, func(m map[string]any) { delete(m, "proof") }),
		"bad/ldp-scope-effect-invalid.json": mutateJSON(t, good, func(m map[string]any) {
			m["credentialSubject"].(map[string]any)["scopes"].([]any)[0].(map[string]any)["effect"] = "maybe"
		}),
		"bad/ldp-scope-number-not-double.json":  bytes.Replace(good, []byte(`"value":100`), []byte(`"value":0.1`), 1),
		"bad/jwt-scope-unknown-member.jwt":      []byte(signRaw(owner, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, strings.Replace(payload, `"effect":"allow"`, `"effect":"allow","budget":5`, 1))),
		"bad/jwt-alg-hs256.jwt":                 []byte(signRaw(owner, `{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, payload)),
		"bad/jwt-kid-missing.jwt":               []byte(signRaw(owner, `{"alg":"EdDSA","typ":"JWT"}`, payload)),
		"bad/jwt-header-jwk.jwt":                []byte(signRaw(owner, `{"alg":"EdDSA","jwk":{},"kid":"`+kid+`","typ":"JWT"}`, payload)),
		"bad/jwt-tampered-payload.jwt":          []byte(signRawTampered(owner, kid, payload)),
		"bad/jwt-wrong-key.jwt":                 jwt(other, kid, c),
		"bad/jwt-expired.jwt":                   jwt(owner, kid, expired),
		"bad/jwt-not-yet-valid.jwt":             jwt(owner, kid, notYet),
		"bad/jwt-extra-claim-iat.jwt":           []byte(signRaw(owner, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, strings.Replace(payload, `"nbf":`, `"iat":1767225600,"nbf":`, 1))),
		"bad/jwt-vc-issuer.jwt":                 []byte(signRaw(owner, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, strings.Replace(payload, `"vc":{`, `"vc":{"issuer":"`+ownerDID+`",`, 1))),
		"bad/jwt-remote-context.jwt":            []byte(signRaw(owner, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, strings.Replace(payload, `"@context":[`, `"@context":["https://evil.example/v1",`, 1))),
		"bad/jwt-status-index-leading-zero.jwt": []byte(signRaw(owner, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, strings.Replace(payload, `"statusListIndex":"94567"`, `"statusListIndex":"094567"`, 1))),
	}
	codes := map[string]Code{
		"bad/ldp-tampered-proof.json": CodeSignatureInvalid, "bad/ldp-tampered-subject.json": CodeSignatureInvalid,
		"bad/ldp-tampered-scopes.json": CodeSignatureInvalid, "bad/ldp-wrong-key.json": CodeSignatureInvalid,
		"bad/ldp-not-assertion-method.json": CodeKeyNotAuthorized, "bad/ldp-expired.json": CodeExpired,
		"bad/ldp-not-yet-valid.json": CodeNotYetValid, "bad/ldp-undefined-term.json": CodeUndefinedTerm,
		"bad/ldp-undefined-term-in-scope.json": CodeUndefinedTerm, "bad/ldp-unknown-context.json": CodeContextNotAllowed,
		"bad/ldp-remote-context.json": CodeContextNotAllowed, "bad/ldp-extra-member.json": CodeMalformed,
		"bad/ldp-issuer-mismatch.json": CodeIssuerMismatch, "bad/ldp-issuer-unresolvable.json": CodeIssuerUnresolvable,
		"bad/ldp-scopes-empty.json": CodeScopesInvalid, "bad/ldp-status-suspension.json": CodeStatusInvalid,
		"bad/ldp-proof-type-2018.json": CodeAlgNotAllowed, "bad/ldp-no-proof.json": CodeFormatUnknown,
		"bad/ldp-scope-effect-invalid.json": CodeScopesInvalid, "bad/ldp-scope-number-not-double.json": CodeScopesInvalid,
		"bad/jwt-scope-unknown-member.jwt": CodeScopesInvalid,
		"bad/jwt-alg-hs256.jwt":            CodeAlgNotAllowed, "bad/jwt-kid-missing.jwt": CodeKIDInvalid,
		"bad/jwt-header-jwk.jwt": CodeMalformed, "bad/jwt-tampered-payload.jwt": CodeSignatureInvalid,
		"bad/jwt-wrong-key.jwt": CodeSignatureInvalid, "bad/jwt-expired.jwt": CodeExpired,
		"bad/jwt-not-yet-valid.jwt": CodeNotYetValid, "bad/jwt-extra-claim-iat.jwt": CodeMalformed,
		"bad/jwt-vc-issuer.jwt": CodeMalformed, "bad/jwt-remote-context.jwt": CodeContextNotAllowed,
		"bad/jwt-status-index-leading-zero.jwt": CodeStatusInvalid,
	}
	out := map[string]vector{}
	for f, data := range files {
		format := FormatLDP
		if strings.HasSuffix(f, ".jwt") {
			format = FormatJWT
		}
		if strings.HasPrefix(f, "bad/") && codes[f] == "" {
			t.Fatalf("%s has no code", f)
		}
		out[f] = vector{File: f, Format: format, Code: codes[f]}
		vectorData[f] = data
	}
	return out
}

var vectorData = map[string][]byte{}

// ldpUnchecked signs c with a verificationMethod of another DID than the
// issuer, which IssueLDP refuses: the proof is made over the credential as
// if issued by that DID, then the issuer is put back.
func ldpUnchecked(t *testing.T, priv ed25519.PrivateKey, vm string, c Credential) []byte {
	t.Helper()
	u, _ := did.ParseDIDURL(vm)
	c2 := c
	c2.Issuer = u.DID
	doc, err := IssueLDP(priv, vm, c2, c.IssuanceDate)
	if err != nil {
		t.Fatal(err)
	}
	return mutateJSON(t, doc, func(m map[string]any) { m["issuer"] = c.Issuer })
}

func signRawTampered(priv ed25519.PrivateKey, kid, payload string) string {
	tok := signRaw(priv, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, payload)
	parts := strings.Split(tok, ".")
	p2 := strings.Replace(payload, `"maxSubdelegationDepth":1`, `"maxSubdelegationDepth":8`, 1)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(p2)) + "." + parts[2]
}

func splitJWT(t *testing.T, tok string) (string, string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return string(h), string(p)
}

func TestVectors(t *testing.T) {
	if *update {
		vs := buildVectors(t)
		var m manifest
		m.Now = vectorNow
		for _, dir := range []string{"good", "bad", "dids"} {
			if err := os.MkdirAll(filepath.Join(vectorDir, dir), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range sortedKeys(vs) {
			if err := os.WriteFile(filepath.Join(vectorDir, f), vectorData[f], 0o644); err != nil {
				t.Fatal(err)
			}
			m.Vectors = append(m.Vectors, vs[f])
		}
		doc, err := did.MarshalDocument(aliceDocument(), did.MediaTypeDIDLDJSON)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(vectorDir, "dids", "did-web-issuer.example-owners-alice.json"), doc, 0o644); err != nil {
			t.Fatal(err)
		}
		js, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(filepath.Join(vectorDir, "vectors.json"), append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(vectorDir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Vectors) < 30 {
		t.Fatalf("only %d vectors", len(m.Vectors))
	}
	opt := VerifyOptions{Resolve: (&testResolver{}).resolve, Now: mustTime(t, m.Now)}
	for _, v := range m.Vectors {
		t.Run(v.File, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(vectorDir, v.File))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Verify(context.Background(), raw, opt)
			if v.Code == "" {
				if err != nil {
					t.Fatalf("good vector refused: %v", err)
				}
				if got.Format != v.Format || got.Digest != Digest(bytes.TrimSpace(raw)) {
					t.Fatalf("format %s digest %s", got.Format, got.Digest)
				}
				return
			}
			if CodeOf(err) != v.Code {
				t.Fatalf("got %v, want %s", err, v.Code)
			}
		})
	}
}

func sortedKeys(m map[string]vector) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}
