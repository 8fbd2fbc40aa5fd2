package did

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveKeyVectors resolves the did:key vectors: valid ones to the
// document ResolveKey derives (and, where the vector names one, to the
// did:key specification's document, member for member); invalid ones to
// invalidDid, or methodNotSupported when the method is not key.
func TestResolveKeyVectors(t *testing.T) {
	v := loadVectors(t)
	var r Resolver
	for _, tc := range v.Valid {
		t.Run(tc.Name, func(t *testing.T) {
			res, err := r.Resolve(context.Background(), tc.DID)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !res.Immutable {
				t.Errorf("did:key result is not marked immutable")
			}
			if res.ResolutionMetadata != (ResolutionMetadata{ContentType: MediaTypeDIDLDJSON}) {
				t.Errorf("resolution metadata = %+v", res.ResolutionMetadata)
			}
			if res.DocumentMetadata != (DocumentMetadata{}) {
				t.Errorf("document metadata = %+v, want none", res.DocumentMetadata)
			}
			got, err := MarshalDocument(res.Document, MediaTypeDIDLDJSON)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ResolveKey(tc.DID)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := want.MarshalJSON()
			if string(got) != string(wantJSON) {
				t.Errorf("document\n%s\nwant\n%s", got, wantJSON)
			}
			if tc.Document != "" {
				b, err := os.ReadFile(filepath.Join(vectorDir, tc.Document))
				if err != nil {
					t.Fatal(err)
				}
				if !jsonEqual(t, got, b) {
					t.Errorf("document\n%s\nis not the spec's\n%s", got, b)
				}
			}
		})
	}
	for _, tc := range v.Invalid {
		t.Run("invalid/"+tc.Name, func(t *testing.T) {
			want := ErrorInvalidDID
			if m, err := ParseDID(tc.DID); err == nil && m != "key" {
				want = ErrorMethodNotSupported
			}
			wantResolutionError(t, &r, tc.DID, want)
		})
	}
}

func TestResolveRefusals(t *testing.T) {
	const key = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	var r Resolver
	for _, tc := range []struct {
		name, did, code string
	}{
		{"empty", "", ErrorInvalidDID},
		{"no-scheme", "key:z6Mk", ErrorInvalidDID},
		{"no-method", "did::abc", ErrorInvalidDID},
		{"uppercase-method", "did:KEY:abc", ErrorInvalidDID},
		{"bad-char", "did:key:z6Mk ha", ErrorInvalidDID},
		{"bad-percent", "did:web:example.com%3", ErrorInvalidDID},
		{"path", key + "/path", ErrorInvalidDID},
		{"query", key + "?versionId=1", ErrorInvalidDID},
		{"fragment", key + "#" + strings.TrimPrefix(key, "did:key:"), ErrorInvalidDID},
		{"key-not-canonical", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doL0", ErrorInvalidDID},
		{"web", "did:web:example.com", ErrorMethodNotSupported},
		{"web-hosted", "did:web:127.0.0.1%3A8080:owners:alice", ErrorMethodNotSupported},
		{"example", "did:example:123456789abcdefghi", ErrorMethodNotSupported},
		{"ion", "did:ion:EiClkZMDxPKqC9c-umQfTkR8vvZ9JPhl_xLDI9Nfk38w5w", ErrorMethodNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantResolutionError(t, &r, tc.did, tc.code)
		})
	}
}

func wantResolutionError(t *testing.T, r *Resolver, did, code string) {
	t.Helper()
	res, err := r.Resolve(context.Background(), did)
	if err == nil {
		t.Fatalf("Resolve(%q) = %+v, want %s", did, res, code)
	}
	var re *ResolutionError
	if !errors.As(err, &re) {
		t.Fatalf("Resolve(%q) error %v (%T) is not a *ResolutionError", did, err, err)
	}
	if re.Code != code {
		t.Errorf("Resolve(%q) code = %s, want %s (%v)", did, re.Code, code, err)
	}
	if re.Message == "" {
		t.Errorf("Resolve(%q): empty message", did)
	}
}

// TestResultJSON checks the JSON shape of results against DID Resolution
// §7.1: the members, their order, a null didDocument on failure, and the
// two document representations.
func TestResultJSON(t *testing.T) {
	const key = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	var r Resolver
	res, err := r.Resolve(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	docLD, err := MarshalDocument(res.Document, MediaTypeDIDLDJSON)
	if err != nil {
		t.Fatal(err)
	}
	docJSON, err := MarshalDocument(res.Document, MediaTypeDIDJSON)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MarshalDocument(res.Document, "application/json"); err == nil {
		t.Errorf("MarshalDocument accepted application/json")
	}
	if len(res.Document.Context) == 0 {
		t.Errorf("MarshalDocument(did+json) changed the resolved document's context")
	}

	for _, tc := range []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"success", func() ([]byte, error) { return json.Marshal(res) },
			`{"@context":"https://w3id.org/did-resolution/v1","didDocument":` + string(docLD) +
				`,"didResolutionMetadata":{"contentType":"application/did+ld+json"},"didDocumentMetadata":{}}`},
		{"error", func() ([]byte, error) { return json.Marshal(ErrorResult(ErrorNotFound, "no such DID")) },
			`{"@context":"https://w3id.org/did-resolution/v1","didDocument":null,` +
				`"didResolutionMetadata":{"error":"notFound","errorMessage":"no such DID"},"didDocumentMetadata":{}}`},
		{"did+json", func() ([]byte, error) { return docJSON, nil },
			`{"id":"` + key + `"` + string(docLD[strings.Index(string(docLD), `,"verificationMethod"`):])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if _, err := ParseDocument(docJSON); err != nil {
				t.Errorf("did+json document does not parse: %v", err)
			}
		})
	}
}

// jsonEqual compares two JSON values ignoring formatting.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// FuzzResolve checks that Resolve never panics, that every failure is a
// *ResolutionError with a known code, and that every success is a document
// about exactly the DID asked.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#x",
		"did:web:example.com",
		"did:example:1",
		"did:key:z",
		"",
	} {
		f.Add(s)
	}
	var r Resolver
	f.Fuzz(func(t *testing.T, did string) {
		res, err := r.Resolve(context.Background(), did)
		if err != nil {
			var re *ResolutionError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *ResolutionError", err)
			}
			switch re.Code {
			case ErrorInvalidDID, ErrorMethodNotSupported:
			default:
				t.Fatalf("unexpected code %s", re.Code)
			}
			return
		}
		if res.Document == nil || res.Document.ID != did {
			t.Fatalf("resolved %q to a document about %+v", did, res.Document)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatal(err)
		}
	})
}
