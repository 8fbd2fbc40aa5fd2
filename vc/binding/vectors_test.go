package binding

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
)

var update = flag.Bool("update", false, "rewrite the test vectors under spec/testdata/binding")

// vectorDir holds the vectors of spec/testdata/binding/README.md, generated
// by TestVectors -update and checked by it: generation is deterministic, so
// the files on disk must be exactly what the generator writes, and each
// vector must verify, or fail with its code.
const vectorDir = "../../spec/testdata/binding"

// vector is one entry of vectors.json.
type vector struct {
	Name        string `json:"name"`
	File        string `json:"file"`
	Description string `json:"description"`
	// Code is the refusal code of a bad vector; empty for a good one.
	Code Code `json:"code,omitempty"`
	// ClaimsSchema says whether the decoded claim set satisfies
	// binding-v1.json: "valid" or "invalid"; empty when the payload is not
	// one JSON object with unique member names in valid UTF-8 (a schema
	// does not apply).
	ClaimsSchema string `json:"claims_schema,omitempty"`
	// For a good vector: what Verify returns.
	Binding *vectorBinding `json:"binding,omitempty"`
	KID     string         `json:"kid,omitempty"`
	Digest  string         `json:"digest,omitempty"`

	token string
}

type vectorBinding struct {
	ID       string `json:"id"`
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Role     Role   `json:"role"`
	Context  string `json:"context,omitempty"`
	IssuedAt string `json:"issued_at"`
	Expires  string `json:"expires,omitempty"`
}

func toVectorBinding(b Binding) *vectorBinding {
	vb := &vectorBinding{ID: b.ID, Issuer: b.Issuer, Subject: b.Subject, Role: b.Role, Context: b.Context,
		IssuedAt: b.IssuedAt.UTC().Format(time.RFC3339)}
	if !b.Expires.IsZero() {
		vb.Expires = b.Expires.UTC().Format(time.RFC3339)
	}
	return vb
}

// vectorDID says how the vectors' resolver resolves one DID.
type vectorDID struct {
	DID      string `json:"did"`
	Document string `json:"document,omitempty"`
	Error    string `json:"error,omitempty"`
}

type manifest struct {
	VerifyAt    string      `json:"verify_at"`
	SkewSeconds int         `json:"skew_seconds"`
	DIDs        []vectorDID `json:"dids"`
	Vectors     []vector    `json:"vectors"`
}

type generator struct {
	t       testing.TB
	vectors []vector
	names   map[string]bool
}

func (g *generator) add(v vector) {
	g.t.Helper()
	if g.names[v.Name] {
		g.t.Fatalf("vector %s twice", v.Name)
	}
	g.names[v.Name] = true
	dir := "bad"
	if v.Code == "" {
		dir = "good"
	}
	v.File = dir + "/" + v.Name + ".jwt"
	g.vectors = append(g.vectors, v)
}

func (g *generator) good(name, desc string, tok string, b Binding, kid string) {
	g.add(vector{Name: name, Description: desc, ClaimsSchema: "valid", Binding: toVectorBinding(b), KID: kid, Digest: Digest(tok), token: tok})
}

func (g *generator) bad(name, desc string, code Code, schema string, tok string) {
	g.add(vector{Name: name, Description: desc, Code: code, ClaimsSchema: schema, token: tok})
}

func (g *generator) issue(priv ed25519.PrivateKey, kid string, b Binding) string {
	g.t.Helper()
	tok, err := Issue(priv, kid, b)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

// replace returns tok with the first old in its header or payload replaced
// by new, signed again by priv, and the description of the change.
func (g *generator) replace(base, baseName string, inHeader bool, old, new string, priv ed25519.PrivateKey) (string, string) {
	g.t.Helper()
	h, p := decodeToken(g.t, base)
	target := &p
	if inHeader {
		target = &h
	}
	if !strings.Contains(*target, old) {
		g.t.Fatalf("%q not in %s", old, *target)
	}
	*target = strings.Replace(*target, old, new, 1)
	where := "payload"
	if inHeader {
		where = "header"
	}
	n := "(nothing)"
	if new != "" {
		n = "`" + clip(new) + "`"
	}
	return signRaw(priv, h, p), fmt.Sprintf("%s with `%s` replaced by %s in the %s", baseName, clip(old), n, where)
}

func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	return s[:30] + "…" + s[len(s)-20:]
}

// generateVectors makes every vector, deterministically.
func generateVectors(t testing.TB) (manifest, map[string][]byte) {
	g := &generator{t: t, names: map[string]bool{}}
	owner, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	other, otherDID, otherKID := keyDID(seedOther)
	alice1, alice2, nobody := seedKey(seedAliceKey1), seedKey(seedAliceKey2), seedKey(seedNobody)
	issued := mustTime(t, vectorIssuedAt)
	now := mustTime(t, vectorNow)

	base := Binding{
		ID: fixedID(t, 0x01), Issuer: ownerDID, Subject: agentDID, Role: RoleIdentity, Context: "work",
		IssuedAt: issued, Expires: issued.AddDate(1, 0, 0),
	}
	identity := g.issue(owner, ownerKID, base)
	g.good("identity", "an Identity Agent for the context work, issued by a did:key owner, expiring after a year", identity, base, ownerKID)

	m := base
	m.ID, m.Role, m.Context, m.Expires = fixedID(t, 0x02), RoleManager, "", time.Time{}
	g.good("manager", "a Manager Agent, no context, no expiry", g.issue(owner, ownerKID, m), m, ownerKID)

	w := Binding{ID: fixedID(t, 0x03), Issuer: aliceDID, Subject: aliceAgentDID, Role: RoleIdentity, Context: "family", IssuedAt: issued}
	g.good("did-web-issuer", "issued by the did:web owner "+aliceDID+" with key-1 (in assertionMethod)", g.issue(alice1, aliceDID+"#key-1", w), w, aliceDID+"#key-1")

	long := base
	long.ID, long.Context = fixedID(t, 0x04), strings.Repeat("a", 30)+"-"+strings.Repeat("9", 32)
	g.good("context-63-characters", "an Identity Agent whose context name has the maximum length, 63", g.issue(owner, ownerKID, long), long, ownerKID)

	edgeExp := base
	edgeExp.ID, edgeExp.Expires = fixedID(t, 0x05), now.Add(-Skew)
	g.good("expired-at-skew-limit", "exp is verify_at - 60 s: still within the skew", g.issue(owner, ownerKID, edgeExp), edgeExp, ownerKID)

	edgeNbf := base
	edgeNbf.ID, edgeNbf.IssuedAt = fixedID(t, 0x06), now.Add(Skew)
	g.good("not-yet-valid-at-skew-limit", "nbf is verify_at + 60 s: already within the skew", g.issue(owner, ownerKID, edgeNbf), edgeNbf, ownerKID)

	h, p := decodeToken(t, identity)
	var pm map[string]json.RawMessage
	if err := json.Unmarshal([]byte(p), &pm); err != nil {
		t.Fatal(err)
	}
	reordered := fmt.Sprintf("{\n  \"vc\": %s,\n  \"exp\": %s, \"iat\": %s, \"nbf\": %s,\n  \"jti\": %s, \"sub\": %s, \"iss\": %s\n}", pm["vc"], pm["exp"], pm["iat"], pm["nbf"], pm["jti"], pm["sub"], pm["iss"])
	reHeader := fmt.Sprintf(`{ "typ": "JWT", "kid": %q, "alg": "EdDSA" }`, ownerKID)
	g.good("reordered-with-whitespace", "identity's header and claims in another member order, with whitespace, signed again: JSON member order and whitespace carry no meaning", signRaw(owner, reHeader, reordered), base, ownerKID)

	// Step 1: the compact JWS.
	g.bad("not-three-parts", "identity without its signature part", CodeMalformed, "valid", strings.Join(strings.Split(identity, ".")[:2], "."))
	g.bad("padded-base64", "identity with base64 padding (==) appended to the signature part", CodeMalformed, "valid", identity+"==")
	tok, _ := g.replace(identity, "identity", false, `"context":"work"`, `"context":"`+strings.Repeat("a", 6200)+`"`, owner)
	g.bad("oversized", "identity with a context of 6200 letters: the token is longer than 8192 bytes", CodeMalformed, "invalid", tok)
	tok, desc := g.replace(identity, "identity", false, `"context":"work"`, "\"context\":\"w\xffrk\"", owner)
	g.bad("invalid-utf8", desc, CodeMalformed, "", tok)
	g.bad("payload-not-json", "a payload that is not JSON (the bytes 'not json'), signed by the owner", CodeMalformed, "", signRaw(owner, h, "not json"))

	// Step 2: the protected header.
	tok, desc = g.replace(identity, "identity", true, `"alg":"EdDSA"`, `"alg":"ES256"`, owner)
	g.bad("wrong-alg", desc+" (the signature is the EdDSA one)", CodeAlgNotAllowed, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, `"alg":"EdDSA"`, `"alg":"Ed25519"`, owner)
	g.bad("alg-ed25519-fully-specified", desc+": RFC 9864's name for the same algorithm is not this profile's", CodeAlgNotAllowed, "valid", tok)
	noneHeader := strings.Replace(h, `"alg":"EdDSA"`, `"alg":"none"`, 1)
	g.bad("none-alg", "identity's claims with alg none and an empty signature", CodeAlgNotAllowed, "valid", b64.EncodeToString([]byte(noneHeader))+"."+b64.EncodeToString([]byte(p))+".")
	hsHeader := strings.Replace(h, `"alg":"EdDSA"`, `"alg":"HS256"`, 1)
	input := b64.EncodeToString([]byte(hsHeader)) + "." + b64.EncodeToString([]byte(p))
	mac := hmac.New(sha256.New, owner.Public().(ed25519.PublicKey))
	mac.Write([]byte(input))
	g.bad("hs256", "identity's claims with alg HS256, MACed with the owner's public key as the secret (algorithm confusion)", CodeAlgNotAllowed, "valid", input+"."+b64.EncodeToString(mac.Sum(nil)))
	tok, desc = g.replace(identity, "identity", true, `"alg":"EdDSA"`, `"alg":"none","alg":"EdDSA"`, owner)
	g.bad("header-duplicate-alg", desc, CodeMalformed, "valid", tok)
	otherPub := other.Public().(ed25519.PublicKey)
	tok, desc = g.replace(identity, "identity", true, `"alg":"EdDSA"`, `"alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"`+b64.EncodeToString(otherPub)+`"}`, other)
	g.bad("header-jwk", desc+", signed by that key", CodeMalformed, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, `"alg":"EdDSA"`, `"alg":"EdDSA","crit":["exp"]`, owner)
	g.bad("header-crit", desc, CodeMalformed, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, `"alg":"EdDSA"`, `"alg":"EdDSA","b64":false`, owner)
	g.bad("header-b64", desc, CodeMalformed, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, `,"typ":"JWT"`, ``, owner)
	g.bad("typ-missing", desc, CodeMalformed, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, `"typ":"JWT"`, `"typ":"vc+jwt"`, owner)
	g.bad("typ-vc-jwt", desc+" (the VC 2.0 media type)", CodeMalformed, "valid", tok)
	parts := strings.Split(identity, ".")
	g.bad("signature-truncated", "identity with the last byte of its signature removed", CodeMalformed, "valid", parts[0]+"."+parts[1]+"."+b64.EncodeToString(mustB64(t, parts[2])[:63]))
	tok, desc = g.replace(identity, "identity", true, `"kid":"`+ownerKID+`",`, ``, owner)
	g.bad("kid-missing", desc, CodeKIDInvalid, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, ownerKID, "key-1", owner)
	g.bad("kid-not-did-url", desc, CodeKIDInvalid, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, ownerKID, ownerDID, owner)
	g.bad("kid-no-fragment", desc, CodeKIDInvalid, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, ownerKID, ownerKID[len(ownerDID):], owner)
	g.bad("kid-relative", desc+": the kid must be an absolute DID URL", CodeKIDInvalid, "valid", tok)
	tok, desc = g.replace(identity, "identity", true, ownerKID, ownerDID+"?versionId=1"+ownerKID[len(ownerDID):], owner)
	g.bad("kid-with-query", desc, CodeKIDInvalid, "valid", tok)

	// Step 3: the claim set.
	for _, c := range []struct {
		name, old, new string
		code           Code
		schema         string
	}{
		{"unknown-claim", `"iss":`, `"aud":"https://ledger.example","iss":`, CodeMalformed, "invalid"},
		{"subject-missing", `"sub":"` + agentDID + `",`, ``, CodeMalformed, "invalid"},
		{"issuer-missing", `"iss":"` + ownerDID + `",`, ``, CodeMalformed, "invalid"},
		{"duplicate-claim", `"sub":"` + agentDID + `"`, `"sub":"` + otherDID + `","sub":"` + agentDID + `"`, CodeMalformed, ""},
		{"iss-not-did", `"iss":"` + ownerDID + `"`, `"iss":"owner-1"`, CodeMalformed, "invalid"},
		{"sub-did-url", `"sub":"` + agentDID + `"`, `"sub":"` + agentDID + `#key-1"`, CodeMalformed, "invalid"},
		{"sub-null", `"sub":"` + agentDID + `"`, `"sub":null`, CodeMalformed, "invalid"},
		{"subject-is-issuer", `"sub":"` + agentDID + `"`, `"sub":"` + ownerDID + `"`, CodeMalformed, "valid"},
		{"jti-uppercase", `"jti":"urn:uuid:01010101-0101-4101-8101-010101010101"`, `"jti":"urn:uuid:0A010101-0101-4101-8101-010101010101"`, CodeMalformed, "invalid"},
		{"jti-not-version-4", `"jti":"urn:uuid:01010101-0101-4101-8101-010101010101"`, `"jti":"urn:uuid:01010101-0101-1101-8101-010101010101"`, CodeMalformed, "invalid"},
		{"jti-not-urn", `"jti":"urn:uuid:01010101-0101-4101-8101-010101010101"`, `"jti":"01010101-0101-4101-8101-010101010101"`, CodeMalformed, "invalid"},
		{"nbf-fraction", `"nbf":1767225600`, `"nbf":1767225600.5`, CodeMalformed, "invalid"},
		{"nbf-string", `"nbf":1767225600`, `"nbf":"1767225600"`, CodeMalformed, "invalid"},
		{"nbf-exponent", `"nbf":1767225600`, `"nbf":1.7672256e9`, CodeMalformed, "valid"},
		{"iat-differs-from-nbf", `"iat":1767225600`, `"iat":1767225601`, CodeMalformed, "valid"},
		{"exp-before-nbf", `"exp":1798761600`, `"exp":1767225599`, CodeMalformed, "valid"},
		{"exp-null", `"exp":1798761600`, `"exp":null`, CodeMalformed, "invalid"},
		{"vc-missing", `,"vc":{`, `,"vx":{`, CodeMalformed, "invalid"},
		{"extra-vc-member", `"credentialSubject":`, `"credentialStatus":{"id":"https://status.example/1#5","type":"BitstringStatusListEntry"},"credentialSubject":`, CodeMalformed, "invalid"},
		{"vc-issuer-duplicated", `"credentialSubject":`, `"issuer":"` + ownerDID + `","credentialSubject":`, CodeMalformed, "invalid"},
		{"vc-id-duplicated", `"credentialSubject":`, `"id":"urn:uuid:01010101-0101-4101-8101-010101010101","credentialSubject":`, CodeMalformed, "invalid"},
		{"vc-issuance-date-duplicated", `"credentialSubject":`, `"issuanceDate":"2026-01-01T00:00:00Z","credentialSubject":`, CodeMalformed, "invalid"},
		{"subject-id-duplicated", `"credentialSubject":{`, `"credentialSubject":{"id":"` + agentDID + `",`, CodeMalformed, "invalid"},
		{"type-missing-binding", `"type":["VerifiableCredential","AgentBindingCredential"]`, `"type":["VerifiableCredential"]`, CodeMalformed, "invalid"},
		{"type-reordered", `"type":["VerifiableCredential","AgentBindingCredential"]`, `"type":["AgentBindingCredential","VerifiableCredential"]`, CodeMalformed, "invalid"},
		{"type-string", `"type":["VerifiableCredential","AgentBindingCredential"]`, `"type":"AgentBindingCredential"`, CodeMalformed, "invalid"},
		{"context-missing-binding", `,"https://w3id.org/clawnet/binding/v1"]`, `]`, CodeMalformed, "invalid"},
		{"context-extra-entry", `"https://w3id.org/clawnet/binding/v1"]`, `"https://w3id.org/clawnet/binding/v1","https://www.w3.org/ns/credentials/v2"]`, CodeMalformed, "invalid"},
		{"credential-subject-array", `"credentialSubject":{"role":"identity","context":"work"}`, `"credentialSubject":[{"role":"identity","context":"work"}]`, CodeMalformed, "invalid"},
		// Step 9 (after the signature and the times).
		{"role-unknown", `"role":"identity"`, `"role":"admin"`, CodeRoleInvalid, "invalid"},
		{"role-uppercase", `"role":"identity"`, `"role":"Identity"`, CodeRoleInvalid, "invalid"},
		{"role-missing", `"role":"identity",`, ``, CodeRoleInvalid, "invalid"},
		{"role-number", `"role":"identity"`, `"role":1`, CodeMalformed, "invalid"},
		{"manager-with-context", `"role":"identity"`, `"role":"manager"`, CodeContextInvalid, "invalid"},
		{"identity-without-context", `,"context":"work"`, ``, CodeContextInvalid, "invalid"},
		{"bad-context-name", `"context":"work"`, `"context":"Work"`, CodeContextInvalid, "invalid"},
		{"context-leading-hyphen", `"context":"work"`, `"context":"-work"`, CodeContextInvalid, "invalid"},
		{"context-too-long", `"context":"work"`, `"context":"` + strings.Repeat("a", 64) + `"`, CodeContextInvalid, "invalid"},
		{"context-empty", `"context":"work"`, `"context":""`, CodeContextInvalid, "invalid"},
	} {
		tok, desc := g.replace(identity, "identity", false, c.old, c.new, owner)
		g.bad(c.name, desc, c.code, c.schema, tok)
	}
	mwc := m
	mwc.ID = fixedID(t, 0x07)
	mtok := g.issue(owner, ownerKID, mwc)
	tok, desc = g.replace(mtok, "manager", false, `"role":"manager"`, `"role":"manager","context":""`, owner)
	g.bad("manager-with-empty-context", desc, CodeContextInvalid, "invalid", tok)

	// Steps 4 to 7: issuer, key, signature.
	tok, desc = g.replace(identity, "identity", true, ownerKID, otherKID, other)
	g.bad("kid-other-did", desc+", signed by that key: the kid's DID is not iss", CodeIssuerMismatch, "valid", tok)
	nb := base
	nb.ID, nb.Issuer = fixedID(t, 0x08), nobodyDID
	g.bad("issuer-not-found", "issued by "+nobodyDID+", which does not resolve (notFound)", CodeIssuerUnresolvable, "valid", g.issue(nobody, nobodyDID+"#key-1", nb))
	gone := base
	gone.ID, gone.Issuer = fixedID(t, 0x09), goneDID
	g.bad("issuer-deactivated", "issued by "+goneDID+", which is deactivated", CodeIssuerUnresolvable, "valid", g.issue(nobody, goneDID+"#key-1", gone))
	w2 := w
	w2.ID = fixedID(t, 0x0a)
	g.bad("key-not-assertion", "issued by "+aliceDID+" with key-2, which is in its authentication but not its assertionMethod", CodeKeyNotAuthorized, "valid", g.issue(alice2, aliceDID+"#key-2", w2))
	w9 := w
	w9.ID = fixedID(t, 0x0b)
	g.bad("key-not-found", "issued by "+aliceDID+" with key-9, which its document does not have", CodeKeyNotAuthorized, "valid", g.issue(alice1, aliceDID+"#key-9", w9))
	_, tampered := decodeToken(t, identity)
	tampered = strings.Replace(tampered, `"context":"work"`, `"context":"play"`, 1)
	g.bad("tampered-payload", "identity with `\"context\":\"work\"` replaced by `\"context\":\"play\"` in the payload, signature kept", CodeSignatureInvalid, "valid", parts[0]+"."+b64.EncodeToString([]byte(tampered))+"."+parts[2])
	sig := mustB64(t, parts[2])
	sig[10] ^= 0x01
	g.bad("tampered-signature", "identity with one bit of its signature flipped", CodeSignatureInvalid, "valid", parts[0]+"."+parts[1]+"."+b64.EncodeToString(sig))
	g.bad("signed-by-other-key", "identity's header and claims signed by another key than the owner's", CodeSignatureInvalid, "valid", signRaw(other, h, p))

	// Step 8: the validity period.
	exp := base
	exp.ID, exp.Expires = fixedID(t, 0x0c), now.Add(-Skew-time.Second)
	g.bad("expired", "exp is verify_at - 61 s: beyond the skew", CodeExpired, "valid", g.issue(owner, ownerKID, exp))
	nyv := base
	nyv.ID, nyv.IssuedAt, nyv.Expires = fixedID(t, 0x0d), now.Add(Skew+time.Second), time.Time{}
	g.bad("not-yet-valid", "nbf is verify_at + 61 s: beyond the skew", CodeNotYetValid, "valid", g.issue(owner, ownerKID, nyv))

	// The resolver and the files.
	files := map[string][]byte{}
	docJSON, err := did.MarshalDocument(aliceDocument(), did.MediaTypeDIDLDJSON)
	if err != nil {
		t.Fatal(err)
	}
	files["dids/alice.json"] = append(docJSON, '\n')
	mf := manifest{
		VerifyAt:    vectorNow,
		SkewSeconds: int(Skew / time.Second),
		DIDs: []vectorDID{
			{DID: aliceDID, Document: "dids/alice.json"},
			{DID: goneDID, Error: did.ErrorDeactivated},
			{DID: nobodyDID, Error: did.ErrorNotFound},
		},
		Vectors: g.vectors,
	}
	for _, v := range g.vectors {
		files[v.File] = []byte(v.token)
	}
	b, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files["vectors.json"] = append(b, '\n')
	return mf, files
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fileResolver is the vectors' resolver as another implementation would
// build it from vectors.json: did:key locally, the listed did:web
// documents from their files, the listed errors, notFound otherwise.
func fileResolver(t testing.TB, mf manifest, files map[string][]byte) ResolveFunc {
	t.Helper()
	docs := map[string]*did.Document{}
	errs := map[string]string{}
	for _, d := range mf.DIDs {
		if d.Error != "" {
			errs[d.DID] = d.Error
			continue
		}
		doc, err := did.ParseDocument(files[d.Document])
		if err != nil {
			t.Fatalf("%s: %v", d.Document, err)
		}
		docs[d.DID] = doc
	}
	return func(_ context.Context, d string) (*did.Document, error) {
		if strings.HasPrefix(d, "did:key:") {
			return did.ResolveKey(d)
		}
		if doc, ok := docs[d]; ok {
			return doc, nil
		}
		if code, ok := errs[d]; ok {
			return nil, &did.ResolutionError{Code: code, Message: d}
		}
		return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: d}
	}
}

const (
	readmeBegin = "<!-- vectors:begin (generated by go test ./vc/binding -run TestVectors -update) -->\n"
	readmeEnd   = "<!-- vectors:end -->"
)

func vectorList(mf manifest) string {
	var b strings.Builder
	for _, good := range []bool{true, false} {
		if good {
			b.WriteString("\n### Good (`good/`)\n\n")
		} else {
			b.WriteString("\n### Bad (`bad/`), with the code Verify must return\n\n")
		}
		for _, v := range mf.Vectors {
			if (v.Code == "") != good {
				continue
			}
			if good {
				fmt.Fprintf(&b, "- `%s`: %s\n", v.Name, v.Description)
			} else {
				fmt.Fprintf(&b, "- `%s` → `%s`: %s\n", v.Name, v.Code, v.Description)
			}
		}
	}
	return b.String()
}

func TestVectors(t *testing.T) {
	mf, want := generateVectors(t)
	readmePath := filepath.Join(vectorDir, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := bytes.Index(readme, []byte(readmeBegin)), bytes.Index(readme, []byte(readmeEnd))
	if begin < 0 || end < begin {
		t.Fatalf("README.md lacks the markers %q and %q", readmeBegin, readmeEnd)
	}
	list := vectorList(mf)
	if *update {
		for _, d := range []string{"good", "bad", "dids"} {
			if err := os.RemoveAll(filepath.Join(vectorDir, d)); err != nil {
				t.Fatal(err)
			}
		}
		for rel, b := range want {
			p := filepath.Join(vectorDir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		readme = slices.Concat(readme[:begin+len(readmeBegin)], []byte(list), readme[end:])
		if err := os.WriteFile(readmePath, readme, 0o644); err != nil {
			t.Fatal(err)
		}
		begin, end = bytes.Index(readme, []byte(readmeBegin)), bytes.Index(readme, []byte(readmeEnd))
	}
	if got := string(readme[begin+len(readmeBegin) : end]); got != list {
		t.Errorf("README.md's list of vectors is out of date (run with -update)")
	}

	// The files on disk are exactly what the generator writes.
	onDisk := map[string][]byte{}
	err = filepath.WalkDir(vectorDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(vectorDir, p)
		if err != nil || rel == "README.md" {
			return err
		}
		b, err := os.ReadFile(p)
		onDisk[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		if got, ok := onDisk[rel]; !ok {
			t.Errorf("%s: missing (run with -update)", rel)
		} else if !bytes.Equal(got, want[rel]) {
			t.Errorf("%s: differs from the generator's output (run with -update)", rel)
		}
	}
	for rel := range onDisk {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: not made by the generator (run with -update to remove it)", rel)
		}
	}

	// Every vector on disk does what vectors.json says, with the resolver
	// built from vectors.json alone.
	var disk manifest
	if err := json.Unmarshal(onDisk["vectors.json"], &disk); err != nil {
		t.Fatal(err)
	}
	resolve := fileResolver(t, disk, onDisk)
	at := mustTime(t, disk.VerifyAt)
	for _, v := range disk.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			tok := string(onDisk[v.File])
			got, err := Verify(context.Background(), tok, resolve, at)
			if v.Code != "" {
				if CodeOf(err) != v.Code || got != nil {
					t.Fatalf("Verify = %v, %v; want code %s", got, err, v.Code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if gb := toVectorBinding(got.Binding); *gb != *v.Binding || got.KID != v.KID || got.Digest != v.Digest || got.Token != tok {
				t.Fatalf("Verify = %+v, want binding %+v kid %s digest %s", got, v.Binding, v.KID, v.Digest)
			}
		})
	}
}
