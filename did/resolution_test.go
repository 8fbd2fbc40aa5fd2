package did

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
				if _, err := WebURL(tc.DID); m == "web" && err != nil {
					want = ErrorInvalidDID // syntax is checked before support
				}
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

func TestWebURL(t *testing.T) {
	for _, tc := range []struct{ did, url string }{
		{"did:web:example.com", "https://example.com/.well-known/did.json"},
		{"did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"},
		{"did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"},
		{"did:web:example.com%3A3000", "https://example.com:3000/.well-known/did.json"},
		{"did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"},
		{"did:web:localhost%3A8080:owners:alice", "https://localhost:8080/owners/alice/did.json"},
		{"did:web:127.0.0.1%3A65535:agents:a-1", "https://127.0.0.1:65535/agents/a-1/did.json"},
		{"did:web:xn--bcher-kva.example", "https://xn--bcher-kva.example/.well-known/did.json"},
		{"did:web:example.com:Users:A_b.c", "https://example.com/Users/A_b.c/did.json"},
		{"did:web:a.b-c.d9", "https://a.b-c.d9/.well-known/did.json"},
		{"did:web:example.com:...", "https://example.com/.../did.json"},
	} {
		t.Run(tc.did, func(t *testing.T) {
			got, err := WebURL(tc.did)
			if err != nil || got != tc.url {
				t.Errorf("WebURL = %q, %v; want %q", got, err, tc.url)
			}
		})
	}
	long := strings.Repeat("a", 63)
	for _, tc := range []struct{ name, did string }{
		{"not-web", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"},
		{"no-host", "did:web:"},
		{"empty-host", "did:web::user"},
		{"empty-segment", "did:web:example.com::alice"},
		{"trailing-colon", "did:web:example.com:"},
		{"dot-segment", "did:web:example.com:.:alice"},
		{"dotdot-segment", "did:web:example.com:..:admin"},
		{"encoded-slash", "did:web:example.com:a%2Fb"},
		{"encoded-dotdot", "did:web:example.com:%2E%2E"},
		{"encoded-colon-in-path", "did:web:example.com:a%3Ab"},
		{"uppercase-host", "did:web:Example.com"},
		{"lowercase-pct", "did:web:example.com%3a8080"},
		{"two-ports", "did:web:example.com%3A80%3A81"},
		{"empty-port", "did:web:example.com%3A"},
		{"port-zero", "did:web:example.com%3A0"},
		{"port-leading-zero", "did:web:example.com%3A080"},
		{"port-too-big", "did:web:example.com%3A65536"},
		{"port-letters", "did:web:example.com%3Ahttp"},
		{"userinfo", "did:web:user%40example.com"},
		{"encoded-host", "did:web:ex%61mple.com"},
		{"ipv6", "did:web:%5B%3A%3A1%5D"},
		{"ipv6-bare", "did:web:%3A%3A1"},
		{"underscore-host", "did:web:ex_ample.com"},
		{"hyphen-start", "did:web:-example.com"},
		{"hyphen-end", "did:web:example-.com"},
		{"empty-label", "did:web:example..com"},
		{"trailing-dot", "did:web:example.com."},
		{"long-label", "did:web:" + long + "a.com"},
		{"long-host", "did:web:" + strings.Repeat(long+".", 4) + "com"},
		{"ipv4-short", "did:web:127.1"},
		{"ipv4-integer", "did:web:2130706433"},
		{"ipv4-leading-zero", "did:web:010.0.0.1"},
		{"ipv4-out-of-range", "did:web:256.0.0.1"},
		{"ipv4-five", "did:web:1.2.3.4.5"},
		{"path-bad-char", "did:web:example.com:a~b"},
		{"did-url", "did:web:example.com/path"},
		{"query", "did:web:example.com?x=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WebURL(tc.did)
			if err == nil || !errors.Is(err, ErrInvalidDID) {
				t.Errorf("WebURL(%q) = %q, %v; want ErrInvalidDID", tc.did, got, err)
			}
		})
	}
}

// FuzzWebURL checks that every accepted did:web maps to an HTTPS URL of
// the host the DID names, whose path has no dot segments and ends in
// /did.json, and that distinct DIDs map to distinct URLs (checked by the
// inverse mapping).
func FuzzWebURL(f *testing.F) {
	for _, s := range []string{
		"did:web:example.com", "did:web:example.com%3A8080:a:b", "did:web:127.0.0.1",
		"did:web:example.com:..", "did:web:a%2Fb", "did:web:%5B%3A%3A1%5D", "did:web:Example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, did string) {
		u, err := WebURL(did)
		if err != nil {
			if !errors.Is(err, ErrInvalidDID) {
				t.Fatalf("error %v does not wrap ErrInvalidDID", err)
			}
			return
		}
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("WebURL(%q) = %q: %v", did, u, err)
		}
		if parsed.Scheme != "https" || parsed.User != nil || parsed.RawQuery != "" || parsed.Fragment != "" ||
			!strings.HasSuffix(parsed.Path, "/did.json") || parsed.RawPath != "" {
			t.Fatalf("WebURL(%q) = %q", did, u)
		}
		for _, seg := range strings.Split(parsed.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("WebURL(%q) = %q has a dot segment", did, u)
			}
		}
		// Invert: the URL names exactly one DID.
		host := strings.Replace(parsed.Host, ":", "%3A", 1)
		p := strings.TrimSuffix(strings.TrimPrefix(parsed.Path, "/"), "/did.json")
		back := "did:web:" + host
		if p != ".well-known" {
			back += ":" + strings.ReplaceAll(p, "/", ":")
		}
		if back != did {
			t.Fatalf("WebURL(%q) = %q, which maps back to %q", did, u, back)
		}
	})
}

// fakeHosted is a HostedSource over a map of DID → versions (last is
// current); it counts calls.
type fakeHosted struct {
	calls atomic.Int64
	res   func(did, versionID string) (*Result, error)
}

func (h *fakeHosted) ResolveHosted(_ context.Context, did, versionID string) (*Result, error) {
	h.calls.Add(1)
	return h.res(did, versionID)
}

type fakeRemote struct {
	calls atomic.Int64
	res   func(did string) (*Result, error)
}

func (f *fakeRemote) ResolveRemote(_ context.Context, did string) (*Result, error) {
	f.calls.Add(1)
	return f.res(did)
}

// webDoc returns a one-key document about id in the hosted shape.
func webDoc(t testing.TB, id string) *Document {
	t.Helper()
	kd, _, err := GenerateKey(strings.NewReader(strings.Repeat("k", 64)))
	if err != nil {
		t.Fatal(err)
	}
	mb := strings.TrimPrefix(kd, "did:key:")
	return &Document{
		Context: []string{ContextDIDv1, "https://w3id.org/security/suites/ed25519-2020/v1"},
		ID:      id,
		VerificationMethod: []VerificationMethod{{ID: id + "#key-1", Type: "Ed25519VerificationKey2020",
			Controller: id, PublicKeyMultibase: mb}},
		Authentication:  []string{id + "#key-1"},
		AssertionMethod: []string{id + "#key-1"},
	}
}

func okResult(doc *Document, ttl time.Duration) *Result {
	return &Result{Document: doc, ResolutionMetadata: ResolutionMetadata{ContentType: MediaTypeDIDLDJSON}, TTL: ttl}
}

// TestResolveWebRouting checks which source answers which did:web, the
// options, and that failures of the sources reach the caller as
// resolution errors with their detail and metadata.
func TestResolveWebRouting(t *testing.T) {
	const (
		hostedHost = "localhost%3A8080"
		hostedDID  = "did:web:" + hostedHost + ":owners:alice"
		goneDID    = "did:web:" + hostedHost + ":owners:gone"
		remoteDID  = "did:web:example.com"
		keyDID     = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	)
	goneMeta := &DocumentMetadata{Deactivated: true, VersionID: "7", Created: "2026-01-02T03:04:05Z", Updated: "2026-01-03T03:04:05Z"}
	hosted := &fakeHosted{res: func(did, v string) (*Result, error) {
		switch {
		case did == goneDID:
			return nil, &ResolutionError{Code: ErrorDeactivated, Message: "deactivated", Metadata: goneMeta}
		case did == hostedDID && (v == "" || v == "3"):
			return okResult(webDoc(t, did), 0), nil
		case did == "did:web:"+hostedHost+":owners:liar":
			return okResult(webDoc(t, hostedDID), 0), nil // about another DID
		case did == "did:web:"+hostedHost+":owners:broken":
			return nil, errors.New("disk on fire")
		}
		return nil, &ResolutionError{Code: ErrorNotFound, Message: "no such DID"}
	}}
	remote := &fakeRemote{res: func(did string) (*Result, error) {
		if did == remoteDID {
			return okResult(webDoc(t, did), time.Minute), nil
		}
		return nil, &ResolutionError{Code: ErrorInvalidDIDDocument, Detail: "did_web_document_too_large", Message: "too large"}
	}}
	full := &Resolver{Hosted: hosted, HostedHost: hostedHost, Remote: remote}
	noRemote := &Resolver{Hosted: hosted, HostedHost: hostedHost}
	noHosted := &Resolver{HostedHost: hostedHost, Remote: remote}

	for _, tc := range []struct {
		name         string
		r            *Resolver
		did, version string
		code, detail string // "" for success
		hosted       int64  // calls expected to each source
		remote       int64
	}{
		{"hosted-current", full, hostedDID, "", "", "", 1, 0},
		{"hosted-version", full, hostedDID, "3", "", "", 1, 0},
		{"hosted-unknown-version", full, hostedDID, "4", ErrorNotFound, "", 1, 0},
		{"hosted-not-found", full, "did:web:" + hostedHost + ":owners:bob", "", ErrorNotFound, "", 1, 0},
		{"hosted-deactivated", full, goneDID, "", ErrorDeactivated, "", 1, 0},
		{"hosted-wrong-id", full, "did:web:" + hostedHost + ":owners:liar", "", ErrorInternal, "", 1, 0},
		{"hosted-plain-error", full, "did:web:" + hostedHost + ":owners:broken", "", ErrorInternal, "", 1, 0},
		{"hosted-never-remote", noHosted, hostedDID, "", ErrorMethodNotSupported, "", 0, 0},
		{"remote", full, remoteDID, "", "", "", 0, 1},
		{"remote-error-detail", full, "did:web:example.org", "", ErrorInvalidDIDDocument, "did_web_document_too_large", 0, 1},
		{"remote-version", full, remoteDID, "1", ErrorNotFound, DetailWebNoVersions, 0, 0},
		{"remote-disabled", noRemote, remoteDID, "", ErrorMethodNotSupported, "", 0, 0},
		{"other-port-is-remote", full, "did:web:localhost%3A8081:owners:alice", "", ErrorInvalidDIDDocument, "did_web_document_too_large", 0, 1},
		{"web-invalid", full, "did:web:example.com:..", "", ErrorInvalidDID, DetailWebInvalid, 0, 0},
		{"key-version", full, keyDID, "1", ErrorNotFound, "", 0, 0},
		{"key", full, keyDID, "", "", "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h0, r0 := hosted.calls.Load(), remote.calls.Load()
			res, err := tc.r.ResolveWithOptions(context.Background(), tc.did, ResolveOptions{VersionID: tc.version})
			if dh, dr := hosted.calls.Load()-h0, remote.calls.Load()-r0; dh != tc.hosted || dr != tc.remote {
				t.Errorf("source calls: hosted %d, remote %d; want %d, %d", dh, dr, tc.hosted, tc.remote)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("ResolveWithOptions: %v", err)
				}
				if res.Document.ID != tc.did {
					t.Errorf("document about %q", res.Document.ID)
				}
				return
			}
			var re *ResolutionError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *ResolutionError; result %+v", err, err, res)
			}
			if re.Code != tc.code || re.Detail != tc.detail || re.Message == "" {
				t.Errorf("error %q/%q (%q), want %q/%q", re.Code, re.Detail, re.Message, tc.code, tc.detail)
			}
			if tc.code == ErrorInternal && strings.Contains(re.Message, "fire") {
				t.Errorf("internal cause in the client message: %q", re.Message)
			}
			if tc.code == ErrorDeactivated && (re.Metadata == nil || *re.Metadata != *goneMeta) {
				t.Errorf("deactivated metadata = %+v", re.Metadata)
			}
		})
	}
}

// TestErrorResultJSON checks that a failure's detail and metadata are in
// its resolution result.
func TestErrorResultJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *ResolutionError
		want string
	}{
		{"plain", &ResolutionError{Code: ErrorNotFound, Message: "no such DID", Err: errors.New("hidden")},
			`{"@context":"https://w3id.org/did-resolution/v1","didDocument":null,` +
				`"didResolutionMetadata":{"error":"notFound","errorMessage":"no such DID"},"didDocumentMetadata":{}}`},
		{"detail", &ResolutionError{Code: ErrorInvalidDIDDocument, Message: "too large", Detail: "did_web_document_too_large"},
			`{"@context":"https://w3id.org/did-resolution/v1","didDocument":null,` +
				`"didResolutionMetadata":{"error":"invalidDidDocument","errorMessage":"too large","clawnetError":"did_web_document_too_large"},"didDocumentMetadata":{}}`},
		{"deactivated", &ResolutionError{Code: ErrorDeactivated, Message: "deactivated",
			Metadata: &DocumentMetadata{Created: "2026-01-02T03:04:05Z", Updated: "2026-01-03T03:04:05Z", Deactivated: true, VersionID: "9",
				LogEntry: "http://localhost:8080/log/v1/receipts/9"}},
			`{"@context":"https://w3id.org/did-resolution/v1","didDocument":null,` +
				`"didResolutionMetadata":{"error":"deactivated","errorMessage":"deactivated"},` +
				`"didDocumentMetadata":{"created":"2026-01-02T03:04:05Z","updated":"2026-01-03T03:04:05Z","deactivated":true,"versionId":"9","logEntry":"http://localhost:8080/log/v1/receipts/9"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.err.Result())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestResolverCache checks what the resolver caches: did:key and remote
// results (until their TTL), never hosted ones, never failures.
func TestResolverCache(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	fail := false
	remote := &fakeRemote{res: func(did string) (*Result, error) {
		if fail {
			return nil, &ResolutionError{Code: ErrorInternal, Detail: "did_web_timeout", Message: "timeout"}
		}
		return okResult(webDoc(t, did), time.Minute), nil
	}}
	hosted := &fakeHosted{res: func(did, v string) (*Result, error) { return okResult(webDoc(t, did), 0), nil }}
	r := &Resolver{Remote: remote, Hosted: hosted, HostedHost: "localhost%3A8080", Cache: NewCache(8, clock)}
	ctx := context.Background()
	const remoteDID, failDID, hostedDID = "did:web:example.com", "did:web:fail.example", "did:web:localhost%3A8080:owners:a"

	for i := 0; i < 3; i++ {
		res, err := r.Resolve(ctx, remoteDID)
		if err != nil {
			t.Fatal(err)
		}
		if res.TTL != time.Minute {
			t.Errorf("TTL = %v, want 1m (the clock did not move)", res.TTL)
		}
		if _, err := r.Resolve(ctx, hostedDID); err != nil {
			t.Fatal(err)
		}
	}
	if n := remote.calls.Load(); n != 1 {
		t.Errorf("remote fetched %d times within its TTL, want 1", n)
	}
	if n := hosted.calls.Load(); n != 3 {
		t.Errorf("hosted asked %d times, want 3 (never cached by the resolver)", n)
	}
	now = now.Add(40 * time.Second)
	if res, err := r.Resolve(ctx, remoteDID); err != nil || res.TTL != 20*time.Second {
		t.Errorf("after 40s: TTL %v, %v; want 20s", res.TTL, err)
	}
	now = now.Add(20 * time.Second)
	if _, err := r.Resolve(ctx, remoteDID); err != nil {
		t.Fatal(err)
	}
	if n := remote.calls.Load(); n != 2 {
		t.Errorf("remote fetched %d times, want 2 (expired at the TTL)", n)
	}
	fail = true
	for i := 0; i < 2; i++ {
		if _, err := r.Resolve(ctx, failDID); err == nil {
			t.Fatal("failure not returned")
		}
	}
	if n := remote.calls.Load(); n != 4 {
		t.Errorf("remote asked %d times, want 4 (failures are not cached)", n)
	}
	if n := r.Cache.Len(); n != 1 {
		t.Errorf("cache holds %d results, want 1 (the remote one)", n)
	}
	// did:key: cached forever.
	const keyDID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	if _, err := r.Resolve(ctx, keyDID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(100 * 365 * 24 * time.Hour)
	if r.Cache.Get(keyDID) == nil {
		t.Errorf("did:key result expired")
	}
}

// TestCacheIsolation checks that neither the result stored nor the one
// returned shares memory with the cache.
func TestCacheIsolation(t *testing.T) {
	c := NewCache(4, nil)
	const id = "did:web:example.com"
	doc := webDoc(t, id)
	doc.Controller = []string{id}
	doc.Extensions = map[string]json.RawMessage{"alsoKnownAs": json.RawMessage(`["did:web:a.example"]`)}
	doc.VerificationMethod[0].PublicKeyJwk = &JWK{Kty: "OKP", Crv: "Ed25519", X: "abc"}
	doc.VerificationMethod[0].Extensions = map[string]json.RawMessage{"x": json.RawMessage(`"y"`)}
	res := okResult(doc, time.Hour)
	want, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(id, res)
	mutate := func(r *Result) {
		d := r.Document
		d.ID = "did:web:evil.example"
		d.Context[0] = "x"
		d.Controller[0] = "x"
		d.Authentication[0] = "x"
		d.AssertionMethod = append(d.AssertionMethod[:0], "x")
		d.VerificationMethod[0].ID = "x"
		d.VerificationMethod[0].PublicKeyJwk.X = "x"
		d.VerificationMethod[0].Extensions["x"][1] = 'z'
		d.Extensions["alsoKnownAs"][2] = 'x'
		d.Extensions["new"] = json.RawMessage(`1`)
		r.ResolutionMetadata.ContentType = "x"
		r.DocumentMetadata.VersionID = "x"
	}
	mutate(res) // the stored original
	got := c.Get(id)
	mutate(got) // a returned copy
	again := c.Get(id)
	if again == nil {
		t.Fatal("result gone")
	}
	b, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Errorf("cached result changed:\n%s\nwant\n%s", b, want)
	}
}

func TestCacheEviction(t *testing.T) {
	c := NewCache(2, nil)
	put := func(id string) { c.Put(id, okResult(webDoc(t, id), time.Hour)) }
	put("did:web:a.example")
	put("did:web:b.example")
	if c.Get("did:web:a.example") == nil { // a is now the most recently used
		t.Fatal("a missing")
	}
	put("did:web:c.example")
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if c.Get("did:web:b.example") != nil {
		t.Errorf("b (least recently used) not evicted")
	}
	if c.Get("did:web:a.example") == nil || c.Get("did:web:c.example") == nil {
		t.Errorf("a or c evicted")
	}
	// Not cacheable: failures, TTL 0 (hosted), no document.
	c.Put("did:web:d.example", okResult(webDoc(t, "did:web:d.example"), 0))
	c.Put("did:web:e.example", ErrorResult(ErrorNotFound, "no"))
	c.Put("did:web:f.example", nil)
	for _, id := range []string{"did:web:d.example", "did:web:e.example", "did:web:f.example"} {
		if c.Get(id) != nil {
			t.Errorf("%s cached", id)
		}
	}
	var nilCache *Cache
	nilCache.Put("did:web:a.example", okResult(webDoc(t, "did:web:a.example"), time.Hour))
	if nilCache.Get("did:web:a.example") != nil || nilCache.Len() != 0 {
		t.Errorf("nil cache holds something")
	}
}

// TestCacheConcurrent runs Get and Put from many goroutines (under -race
// this checks the locking) and checks the bound holds.
func TestCacheConcurrent(t *testing.T) {
	c := NewCache(16, nil)
	docs := make([]*Result, 64)
	for i := range docs {
		docs[i] = okResult(webDoc(t, fmt.Sprintf("did:web:h%d.example", i)), time.Hour)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r := docs[(i*7+g)%len(docs)]
				c.Put(r.Document.ID, r)
				if got := c.Get(r.Document.ID); got != nil && got.Document.ID != r.Document.ID {
					t.Errorf("got %q for %q", got.Document.ID, r.Document.ID)
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Len(); n > 16 {
		t.Errorf("Len = %d > 16", n)
	}
}
