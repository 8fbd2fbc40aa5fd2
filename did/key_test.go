package did

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vectorDir = "../spec/testdata/did-key"

type keyVectors struct {
	Valid []struct {
		Name            string `json:"name"`
		DID             string `json:"did"`
		PublicKeyHex    string `json:"publicKeyHex"`
		PublicKeyBase58 string `json:"publicKeyBase58"`
		SeedHex         string `json:"seedHex"`
		PublicKeyJwkX   string `json:"publicKeyJwkX"`
		Document        string `json:"document"`
		Source          string `json:"source"`
	} `json:"valid"`
	Invalid []struct {
		Name   string `json:"name"`
		DID    string `json:"did"`
		Source string `json:"source"`
	} `json:"invalid"`
}

func loadVectors(t *testing.T) keyVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, "ed25519.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v keyVectors
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Valid) < 4 || len(v.Invalid) < 10 {
		t.Fatalf("vector file has %d valid and %d invalid vectors", len(v.Valid), len(v.Invalid))
	}
	return v
}

func TestKeyVectors(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Valid {
		t.Run(tc.Name, func(t *testing.T) {
			var want ed25519.PublicKey
			switch {
			case tc.PublicKeyHex != "":
				want, _ = hex.DecodeString(tc.PublicKeyHex)
			case tc.PublicKeyBase58 != "":
				var err error
				if want, err = base58Decode(tc.PublicKeyBase58); err != nil {
					t.Fatal(err)
				}
			case tc.SeedHex != "":
				seed, _ := hex.DecodeString(tc.SeedHex)
				want = ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
				if x := base64.RawURLEncoding.EncodeToString(want); x != tc.PublicKeyJwkX {
					t.Fatalf("seed gives JWK x %s, vector says %s", x, tc.PublicKeyJwkX)
				}
			case tc.Document != "":
				checkDocumentVector(t, tc.DID, tc.Document)
				return
			default:
				t.Fatal("vector has no key")
			}
			if len(want) != ed25519.PublicKeySize {
				t.Fatalf("vector key has %d bytes", len(want))
			}
			if got := KeyDID(want); got != tc.DID {
				t.Errorf("KeyDID = %s, want %s", got, tc.DID)
			}
			got, err := ParseKeyDID(tc.DID)
			if err != nil {
				t.Fatalf("ParseKeyDID: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ParseKeyDID = %x, want %x", got, want)
			}
		})
	}
	for _, tc := range v.Invalid {
		t.Run("invalid/"+tc.Name, func(t *testing.T) {
			pub, err := ParseKeyDID(tc.DID)
			if err == nil {
				t.Fatalf("ParseKeyDID(%q) = %x, want an error", tc.DID, pub)
			}
			if !errors.Is(err, ErrInvalidDID) && !errors.Is(err, ErrMethodNotSupported) {
				t.Errorf("error %v wraps neither ErrInvalidDID nor ErrMethodNotSupported", err)
			}
			if _, err := ResolveKey(tc.DID); err == nil {
				t.Errorf("ResolveKey(%q) succeeded", tc.DID)
			}
		})
	}
}

func checkDocumentVector(t *testing.T, did, file string) {
	want, err := os.ReadFile(filepath.Join(vectorDir, file))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ResolveKey(did)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, compact.Bytes()) {
		t.Errorf("ResolveKey(%s) =\n%s\nwant\n%s", did, got, compact.Bytes())
	}
	// The vector parses to the same document, and the key it names is the
	// DID's key in every relationship.
	parsed, err := ParseDocument(want)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ParseKeyDID(did)
	kid := parsed.VerificationMethod[0].ID
	for _, rel := range []string{Authentication, AssertionMethod, CapabilityDelegation, CapabilityInvocation} {
		k, err := VerificationKey(parsed, kid, rel)
		if err != nil || !bytes.Equal(k, pub) {
			t.Errorf("VerificationKey(%s) = %x, %v; want %x", rel, k, err, pub)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	did, priv, err := GenerateKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(did, "did:key:z6Mk") {
		t.Errorf("did %s does not start with did:key:z6Mk", did)
	}
	if !bytes.Equal(priv.Seed(), seed) {
		t.Errorf("key not derived from the reader")
	}
	pub, err := ParseKeyDID(did)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Errorf("ParseKeyDID(GenerateKey) is another key")
	}
	if _, _, err := GenerateKey(bytes.NewReader(seed[:5])); err == nil {
		t.Errorf("GenerateKey with a short reader succeeded")
	}
}

func TestBase58(t *testing.T) {
	for _, tc := range []struct{ hex, b58 string }{
		// Values from the Bitcoin base58 encode/decode test data.
		{"", ""},
		{"61", "2g"},
		{"626262", "a3gV"},
		{"636363", "aPEr"},
		{"516b6fcd0f", "ABnLTmg"},
		{"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
		{"00000000000000000000", "1111111111"},
		{"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
		{"10c8511e", "Rt5zm"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		if got := base58Encode(b); got != tc.b58 {
			t.Errorf("encode %s = %q, want %q", tc.hex, got, tc.b58)
		}
		got, err := base58Decode(tc.b58)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("decode %q = %x, %v; want %s", tc.b58, got, err, tc.hex)
		}
	}
	for _, bad := range []string{"0", "O", "I", "l", "abc+", "é", strings.Repeat("2", maxBase58Len+1)} {
		if b, err := base58Decode(bad); err == nil {
			t.Errorf("decode %q = %x, want an error", bad, b)
		}
	}
}

func FuzzBase58(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1})
	f.Add([]byte{0xed, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 200 {
			return
		}
		s := base58Encode(b)
		got, err := base58Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %x via %q = %x, %v", b, s, got, err)
		}
		// And from the string side: decoding then encoding is the identity.
		if b2, err := base58Decode(string(b)); err == nil && base58Encode(b2) != string(b) {
			t.Fatalf("decode/encode of %q is not the identity", b)
		}
	})
}

func FuzzParseKeyDID(f *testing.F) {
	f.Add("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
	f.Add("did:key:z16MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
	f.Add("did:key:zTjsVPtY")
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParseKeyDID(s)
		if err != nil {
			return
		}
		// Canonical: the one key has exactly one DID, the one parsed.
		if KeyDID(pub) != s {
			t.Fatalf("ParseKeyDID(%q) accepted a non-canonical DID (canonical %q)", s, KeyDID(pub))
		}
	})
}
