package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/piprate/json-gold/ld"
)

func TestCredentialGood(t *testing.T) {
	r := &resolver{}
	for _, tc := range []struct {
		name   string
		raw    []byte
		format Format
	}{
		{"jwt bare", []byte(goodJWT(t)), FormatJWT},
		{"jwt quoted", quoted(goodJWT(t)), FormatJWT},
		{"ldp", goodLD(t), FormatLDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Credential(context.Background(), tc.raw, opts(r))
			if err != nil {
				t.Fatal(err)
			}
			if v.Format != tc.format || v.Issuer != issuerP.did || v.Subject != holderP.did || v.KID != issuerP.kid {
				t.Errorf("got %+v", v)
			}
			if v.Digest != Digest(v.Raw) || v.ID == "" {
				t.Errorf("digest %s id %q", v.Digest, v.ID)
			}
			env, err := Inspect(tc.raw)
			if err != nil || env.Format != tc.format || env.Types[0] != VerifiableCredentialType {
				t.Errorf("Inspect: %+v %v", env, err)
			}
		})
	}
}

func TestCredentialRefusals(t *testing.T) {
	hdr := map[string]string{"typ": "JWT", "kid": issuerP.kid}
	claims := func(f func(m map[string]any)) map[string]any {
		m := jwtClaims(issuerP.did, holderP.did)
		f(m)
		return m
	}
	good := goodJWT(t)
	parts := strings.Split(good, ".")
	ld := goodLD(t)
	for _, tc := range []struct {
		name string
		raw  []byte
		code Code
	}{
		{"empty", []byte("  "), CodeFormatUnknown},
		{"number", []byte("42"), CodeFormatUnknown},
		{"too large", make([]byte, MaxSize+1), CodeMalformed},
		{"two parts", []byte("a.b"), CodeFormatUnknown},
		{"bad base64", []byte(parts[0] + ".!!." + parts[2]), CodeMalformed},
		{"alg HS256 header", []byte(strings.Replace(good, parts[0], b64(`{"alg":"HS256","kid":"`+issuerP.kid+`"}`), 1)), CodeAlgNotAllowed},
		{"jwk in header", []byte(strings.Replace(good, parts[0], b64(`{"alg":"EdDSA","kid":"`+issuerP.kid+`","jwk":{}}`), 1)), CodeMalformed},
		{"duplicate header member", []byte(strings.Replace(good, parts[0], b64(`{"alg":"EdDSA","alg":"EdDSA","kid":"`+issuerP.kid+`"}`), 1)), CodeMalformed},
		{"kid missing", []byte(signJWT(t, issuerP.priv, map[string]string{"typ": "JWT"}, jwtClaims(issuerP.did, holderP.did))), CodeKIDInvalid},
		{"kid without fragment", []byte(signJWT(t, issuerP.priv, map[string]string{"kid": issuerP.did}, jwtClaims(issuerP.did, holderP.did))), CodeKIDInvalid},
		{"vc missing", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) { delete(m, "vc") }))), CodeMalformed},
		{"no VerifiableCredential type", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) {
			m["vc"].(map[string]any)["type"] = []string{"X"}
		}))), CodeMalformed},
		{"vc 2.0 context", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) {
			m["vc"].(map[string]any)["@context"] = []string{"https://www.w3.org/ns/credentials/v2"}
		}))), CodeMalformed},
		{"vc.issuer disagrees", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) {
			m["vc"].(map[string]any)["issuer"] = otherP.did
		}))), CodeMalformed},
		{"subject disagrees", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) { m["sub"] = otherP.did }))), CodeMalformed},
		{"issuer mismatch", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) {
			m["iss"] = otherP.did
			m["vc"].(map[string]any)["credentialSubject"] = map[string]any{"id": holderP.did}
		}))), CodeIssuerMismatch},
		{"issuer unresolvable", []byte(signJWT(t, issuerP.priv, map[string]string{"kid": "did:web:nowhere.example#k1"}, claims(func(m map[string]any) {
			m["iss"] = "did:web:nowhere.example"
		}))), CodeIssuerUnresolvable},
		{"key not in assertionMethod", []byte(signJWT(t, otherP.priv, map[string]string{"kid": assertOnlyDID + "#k2"}, claims(func(m map[string]any) {
			m["iss"] = assertOnlyDID
		}))), CodeKeyNotAuthorized},
		{"signature by another key", []byte(signJWT(t, otherP.priv, hdr, jwtClaims(issuerP.did, holderP.did))), CodeSignatureInvalid},
		{"tampered payload", []byte(parts[0] + "." + b64(strings.Replace(unb64(t, parts[1]), "Membership", "Memberzhip", 1)) + "." + parts[2]), CodeSignatureInvalid},
		{"not yet valid", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) { m["nbf"] = now.Add(2 * time.Minute).Unix() }))), CodeNotYetValid},
		{"expired", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) { m["exp"] = now.Add(-2 * time.Minute).Unix() }))), CodeExpired},
		{"negative exp", []byte(signJWT(t, issuerP.priv, hdr, claims(func(m map[string]any) { m["exp"] = -1 }))), CodeMalformed},

		{"ld without proof", mutateJSON(t, ld, func(m map[string]any) { delete(m, "proof") }), CodeFormatUnknown},
		{"ld remote context", mutateJSON(t, ld, func(m map[string]any) {
			m["@context"] = []any{CredentialsContextURL, "https://example.com/ctx/v1", "https://w3id.org/security/suites/ed25519-2020/v1"}
		}), CodeContextNotEmbedded},
		{"ld inline context", mutateJSON(t, ld, func(m map[string]any) {
			m["@context"] = []any{CredentialsContextURL, map[string]any{"x": "https://x.example/x"}}
		}), CodeMalformed},
		{"ld undefined term", mutateJSON(t, ld, func(m map[string]any) { m["favouriteColour"] = "blue" }), CodeUndefinedTerm},
		{"ld undefined subject term", mutateJSON(t, ld, func(m map[string]any) {
			m["credentialSubject"].(map[string]any)["age"] = 42
		}), CodeUndefinedTerm},
		{"ld no issuanceDate", mutateJSON(t, ld, func(m map[string]any) { delete(m, "issuanceDate") }), CodeMalformed},
		{"ld proof type", mutateJSON(t, ld, func(m map[string]any) { m["proof"].(map[string]any)["type"] = "Ed25519Signature2018" }), CodeAlgNotAllowed},
		{"ld proof purpose", mutateJSON(t, ld, func(m map[string]any) { m["proof"].(map[string]any)["proofPurpose"] = "authentication" }), CodeKeyNotAuthorized},
		{"ld proof vm not a DID URL", mutateJSON(t, ld, func(m map[string]any) { m["proof"].(map[string]any)["verificationMethod"] = "https://x.example/k" }), CodeKIDInvalid},
		{"ld issuer mismatch", mutateJSON(t, ld, func(m map[string]any) { m["issuer"] = otherP.did }), CodeIssuerMismatch},
		{"ld tampered subject", mutateJSON(t, ld, func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = otherP.did }), CodeSignatureInvalid},
		{"ld tampered proof", mutateJSON(t, ld, func(m map[string]any) {
			p := m["proof"].(map[string]any)
			v := p["proofValue"].(string)
			p["proofValue"] = v[:10] + flip(v[10]) + v[11:]
		}), CodeSignatureInvalid},
		{"ld expired", mutateJSON(t, signLD(t, issuerP.priv, issuerP.kid, func() map[string]any {
			d := ldDoc(issuerP.did, holderP.did)
			d["expirationDate"] = "2026-02-01T00:00:00Z"
			return d
		}()), func(map[string]any) {}), CodeExpired},
		{"ld not yet valid", signLD(t, issuerP.priv, issuerP.kid, func() map[string]any {
			d := ldDoc(issuerP.did, holderP.did)
			d["issuanceDate"] = "2026-06-01T00:00:00Z"
			return d
		}()), CodeNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Credential(context.Background(), tc.raw, opts(&resolver{}))
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
		})
	}
}

// recordingLoader records every URL asked of the embedded loader.
type recordingLoader struct {
	urls []string
	next ld.DocumentLoader
}

func (l *recordingLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	l.urls = append(l.urls, u)
	return l.next.LoadDocument(u)
}

// An unknown context is refused without any fetch: a server at the
// context's URL (on loopback) sees no request, and the loader is not even
// asked.
func TestUnknownContextNeverFetched(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/ld+json")
		_, _ = w.Write([]byte(`{"@context":{"favouriteColour":"https://x.example/fc"}}`))
	}))
	defer srv.Close()
	next, err := Loader()
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingLoader{next: next}
	doc := ldDoc(issuerP.did, holderP.did)
	doc["@context"] = []any{CredentialsContextURL, srv.URL + "/ctx", "https://w3id.org/security/suites/ed25519-2020/v1"}
	doc["favouriteColour"] = "blue"
	doc["proof"] = map[string]any{"type": ProofType, "created": "2026-01-01T00:00:00Z", "verificationMethod": issuerP.kid,
		"proofPurpose": ProofPurpose, "proofValue": "z3FXQjecWufY46yg5abdVZsXqLhxhueuSoZgNSARiKBk9czhSePTFehP8c3PGfb6a22gkfUKKiZmfnuXuBzaZpzzm"}
	raw := mutateJSON(t, mustJSON(t, doc), func(map[string]any) {})
	o := opts(&resolver{})
	o.Loader = rl
	_, err = Credential(context.Background(), raw, o)
	if CodeOf(err) != CodeContextNotEmbedded {
		t.Fatalf("code %q, want %q (%v)", CodeOf(err), CodeContextNotEmbedded, err)
	}
	if hits.Load() != 0 || len(rl.urls) != 0 {
		t.Errorf("context server hit %d times, loader asked for %v", hits.Load(), rl.urls)
	}
	// The embedded loader itself refuses any URL without a fetch.
	if _, err := next.LoadDocument(srv.URL + "/ctx"); !errors.Is(err, ErrContextNotEmbedded) || hits.Load() != 0 {
		t.Errorf("embedded loader: %v, hits %d", err, hits.Load())
	}
}

func TestContexts(t *testing.T) {
	urls := ContextURLs()
	if len(urls) != 5 {
		t.Fatalf("embedded contexts %v", urls)
	}
	for _, u := range urls {
		if _, err := (mustLoader(t)).LoadDocument(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func mustLoader(t testing.TB) ld.DocumentLoader {
	l, err := Loader()
	if err != nil {
		t.Fatal(err)
	}
	return l
}
