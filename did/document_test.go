package did

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseDIDURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want DIDURL
	}{
		{"did:example:123", DIDURL{DID: "did:example:123", Method: "example"}},
		{"did:web:example.com%3A8443:owners:alice", DIDURL{DID: "did:web:example.com%3A8443:owners:alice", Method: "web"}},
		{"did:key:z6Mk#z6Mk", DIDURL{DID: "did:key:z6Mk", Method: "key", Fragment: "z6Mk"}},
		{"did:example:123/path/to?versionId=1&x=y#frag/ment?", DIDURL{DID: "did:example:123", Method: "example", Path: "/path/to", Query: "versionId=1&x=y", Fragment: "frag/ment?"}},
		{"did:example:a:b:c?service=files", DIDURL{DID: "did:example:a:b:c", Method: "example", Query: "service=files"}},
		{"did:example:123/", DIDURL{DID: "did:example:123", Method: "example", Path: "/"}},
	} {
		got, err := ParseDIDURL(tc.in)
		if err != nil {
			t.Errorf("ParseDIDURL(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseDIDURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
	for name, in := range map[string]string{
		"empty":                  "",
		"no-scheme":              "example:123",
		"uppercase-scheme":       "DID:example:123",
		"uppercase-method":       "did:Example:123",
		"method-punctuation":     "did:ex-ample:123",
		"no-method":              "did::123",
		"no-id":                  "did:example:",
		"no-id-with-fragment":    "did:example:#f",
		"id-ends-with-colon":     "did:example:123:",
		"bad-percent":            "did:example:12%3",
		"bad-percent-hex":        "did:example:12%zz",
		"space":                  "did:example:1 2",
		"empty-fragment":         "did:example:123#",
		"empty-query":            "did:example:123?",
		"fragment-bad-character": "did:example:123#a b",
		"query-bad-character":    "did:example:123?a=<b>",
		"path-bad-character":     "did:example:123/a\"b",
		"non-ascii":              "did:example:é",
		"too-long":               "did:example:" + strings.Repeat("a", maxDIDURLLen),
	} {
		if u, err := ParseDIDURL(in); err == nil {
			t.Errorf("%s: ParseDIDURL(%q) = %+v, want an error", name, in, u)
		} else if !errors.Is(err, ErrInvalidDID) {
			t.Errorf("%s: error %v does not wrap ErrInvalidDID", name, err)
		}
	}
	if _, err := ParseDID("did:example:123#f"); err == nil {
		t.Errorf("ParseDID accepted a DID URL")
	}
}

func FuzzParseDIDURL(f *testing.F) {
	f.Add("did:example:123/path?query=1#frag")
	f.Add("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#z6Mk")
	f.Add("did:web:example.com%3A8443:owners:alice")
	f.Add("did:a:%")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseDIDURL(s)
		if err != nil {
			return
		}
		if u.String() != s {
			t.Fatalf("ParseDIDURL(%q).String() = %q", s, u.String())
		}
		if m, err := ParseDID(u.DID); err != nil || m != u.Method {
			t.Fatalf("DID %q of %q: method %q, %v", u.DID, s, m, err)
		}
	})
}

const exampleDID = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"

func TestDocumentRoundTrip(t *testing.T) {
	doc, err := ResolveKey(exampleDID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := json.Marshal(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("round trip changed the document:\n%s\n%s", b, b2)
	}
}

func TestParseDocumentExtensions(t *testing.T) {
	in := `{"@context":"https://www.w3.org/ns/did/v1","id":"did:example:1","controller":["did:example:2","did:example:3"],
	"verificationMethod":[{"id":"#k1","type":"Ed25519VerificationKey2018","controller":"did:example:1","publicKeyBase58":"8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K"}],
	"authentication":["#k1"],"service":[{"id":"#s","type":"X","serviceEndpoint":"https://x"}],"alsoKnownAs":["https://a"]}`
	doc, err := ParseDocument([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Extensions) != 2 || doc.Extensions["service"] == nil || doc.Extensions["alsoKnownAs"] == nil {
		t.Errorf("extensions = %v", doc.Extensions)
	}
	if len(doc.Controller) != 2 || string(doc.VerificationMethod[0].Extensions["publicKeyBase58"]) != `"8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K"` {
		t.Errorf("controller %v, method extensions %v", doc.Controller, doc.VerificationMethod[0].Extensions)
	}
	// A kept extension is written back.
	b, _ := json.Marshal(doc)
	if !bytes.Contains(b, []byte(`"serviceEndpoint":"https://x"`)) {
		t.Errorf("extension lost in %s", b)
	}
	// The 2018 key type is kept but not used.
	if _, err := VerificationKey(doc, "#k1", Authentication); !errors.Is(err, ErrUnsupportedKeyType) {
		t.Errorf("2018 key: %v, want ErrUnsupportedKeyType", err)
	}
}

func TestParseDocumentRefusals(t *testing.T) {
	vm := `{"id":"did:example:1#k","type":"Multikey","controller":"did:example:1","publicKeyMultibase":"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"}`
	for name, in := range map[string]string{
		"not-object":              `[]`,
		"trailing-data":           `{"id":"did:example:1"} {}`,
		"no-id":                   `{"@context":"https://www.w3.org/ns/did/v1"}`,
		"bad-id":                  `{"id":"did:Example:1"}`,
		"id-is-url":               `{"id":"did:example:1#x"}`,
		"duplicate-member":        `{"id":"did:example:1","id":"did:example:2"}`,
		"wrong-first-context":     `{"@context":["https://example.com"],"id":"did:example:1"}`,
		"inline-context":          `{"@context":["https://www.w3.org/ns/did/v1",{"a":"b"}],"id":"did:example:1"}`,
		"bad-controller":          `{"id":"did:example:1","controller":"bob"}`,
		"embedded-method":         `{"id":"did:example:1","authentication":[` + vm + `]}`,
		"reference-no-fragment":   `{"id":"did:example:1","authentication":["did:example:1"]}`,
		"relationship-not-array":  `{"id":"did:example:1","authentication":"did:example:1#k"}`,
		"method-no-type":          `{"id":"did:example:1","verificationMethod":[{"id":"#k","controller":"did:example:1"}]}`,
		"method-no-controller":    `{"id":"did:example:1","verificationMethod":[{"id":"#k","type":"Multikey"}]}`,
		"method-duplicate-id":     `{"id":"did:example:1","verificationMethod":[` + vm + `,` + strings.Replace(vm, "did:example:1#k", "#k", 1) + `]}`,
		"method-duplicate-member": `{"id":"did:example:1","verificationMethod":[{"id":"#k","type":"Multikey","type":"X","controller":"did:example:1"}]}`,
		"jwk-private-d":           `{"id":"did:example:1","verificationMethod":[{"id":"#k","type":"JsonWebKey2020","controller":"did:example:1","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}}]}`,
		"jwk-unknown-member":      `{"id":"did:example:1","verificationMethod":[{"id":"#k","type":"JsonWebKey2020","controller":"did:example:1","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"AA","x5u":"https://x"}}]}`,
		"invalid-utf8":            "{\"id\":\"did:example:1\",\"x\":\"\xff\"}",
		"too-large":               `{"id":"did:example:1","x":"` + strings.Repeat("a", maxDocumentSize) + `"}`,
	} {
		if doc, err := ParseDocument([]byte(in)); err == nil {
			t.Errorf("%s: ParseDocument = %+v, want an error", name, doc)
		} else if !errors.Is(err, ErrInvalidDocument) {
			t.Errorf("%s: %v does not wrap ErrInvalidDocument", name, err)
		}
	}
}

func FuzzParseDocument(f *testing.F) {
	doc, _ := ResolveKey(exampleDID)
	b, _ := json.Marshal(doc)
	f.Add(b)
	f.Add([]byte(`{"id":"did:example:1","verificationMethod":[{"id":"#k","type":"JsonWebKey2020","controller":"did:example:1","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"AA"}}],"authentication":["#k"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDocument(data)
		if err != nil {
			return
		}
		// What we accept we can write, and what we write we accept unchanged.
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("marshal accepted document: %v", err)
		}
		doc2, err := ParseDocument(b)
		if err != nil {
			t.Fatalf("reparse %s: %v", b, err)
		}
		b2, _ := json.Marshal(doc2)
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}

func TestVerificationKey(t *testing.T) {
	doc, _ := ResolveKey(exampleDID)
	pub, _ := ParseKeyDID(exampleDID)
	kid := doc.VerificationMethod[0].ID
	frag := kid[strings.IndexByte(kid, '#'):]

	// A document whose second key is only in assertionMethod, with a JWK
	// key, a key of a foreign DID and a key with both encodings.
	jwkDoc := `{"id":"did:example:1","verificationMethod":[
	{"id":"#auth","type":"JsonWebKey2020","controller":"did:example:1","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}},
	{"id":"#assert","type":"Multikey","controller":"did:example:1","publicKeyMultibase":"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"},
	{"id":"#ec","type":"JsonWebKey2020","controller":"did:example:1","publicKeyJwk":{"kty":"EC","crv":"P-256","x":"AA"}},
	{"id":"#both","type":"Multikey","controller":"did:example:1","publicKeyMultibase":"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}},
	{"id":"#x25519","type":"Multikey","controller":"did:example:1","publicKeyMultibase":"z6LSfg76x3LLQjPg3AmMPWo7kdWPHeXbnDLDEbYPBESjbxWC"},
	{"id":"did:example:2#other","type":"Multikey","controller":"did:example:2","publicKeyMultibase":"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"}],
	"authentication":["did:example:1#auth","#ec","#both","#x25519","did:example:2#other","#missing"],"assertionMethod":["#assert"]}`
	d2, err := ParseDocument([]byte(jwkDoc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kid, rel string
		doc            *Document
		want           error // nil: the example key
	}{
		{"did-key-authentication", kid, Authentication, doc, nil},
		{"did-key-relative", frag, CapabilityInvocation, doc, nil},
		{"jwk-authentication", "#auth", Authentication, d2, nil},
		{"multikey-assertion", "did:example:1#assert", AssertionMethod, d2, nil},
		{"not-in-authentication", "#assert", Authentication, d2, ErrNotInRelationship},
		{"not-in-delegation", "#auth", CapabilityDelegation, d2, ErrNotInRelationship},
		{"referenced-not-defined", "#missing", Authentication, d2, ErrMethodNotFound},
		{"unknown-fragment", kid + "x", Authentication, doc, ErrMethodNotFound},
		{"other-did", "did:example:2#other", Authentication, d2, ErrMethodNotFound},
		{"no-fragment", exampleDID, Authentication, doc, ErrMethodNotFound},
		{"ec-key", "#ec", Authentication, d2, ErrUnsupportedKeyType},
		{"both-encodings", "#both", Authentication, d2, ErrUnsupportedKeyType},
		{"x25519-multikey", "#x25519", Authentication, d2, ErrUnsupportedKeyType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerificationKey(tc.doc, tc.kid, tc.rel)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("VerificationKey = %x, %v; want %v", got, err, tc.want)
				}
				return
			}
			if err != nil || !got.Equal(pub) {
				t.Fatalf("VerificationKey = %x, %v; want %x", got, err, pub)
			}
		})
	}
	if _, err := VerificationKey(doc, kid, "keyAgreement"); err == nil {
		t.Errorf("unknown relationship accepted")
	}
}
