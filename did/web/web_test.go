package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
)

// host is a loopback TLS did:web host whose handlers are set per path and
// which counts the requests it receives, per path.
type host struct {
	srv  *httptest.Server
	host string // the DID's host segment, "127.0.0.1%3A<port>"

	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	hits     map[string]int
}

func newHost(t *testing.T) *host {
	t.Helper()
	h := &host{handlers: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits[r.URL.Path]++
		f := h.handlers[r.URL.Path]
		h.mu.Unlock()
		if f == nil {
			http.NotFound(w, r)
			return
		}
		f(w, r)
	}))
	t.Cleanup(h.srv.Close)
	h.host = strings.Replace(strings.TrimPrefix(h.srv.URL, "https://"), ":", "%3A", 1)
	return h
}

func (h *host) handle(path string, f http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers[path] = f
}

func (h *host) serve(path, body string) {
	h.handle(path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/did+json")
		_, _ = w.Write([]byte(body))
	})
}

func (h *host) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.hits {
		n += c
	}
	return n
}

func (h *host) hitsOf(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

// did returns the DID of the document at /<segs...>/did.json (or
// /.well-known/did.json without segments).
func (h *host) did(segs ...string) string {
	return strings.Join(append([]string{"did:web:" + h.host}, segs...), ":")
}

func (h *host) remote() *Remote {
	return &Remote{Client: h.srv.Client(), AllowPrivate: true, MaxSize: 4096, Timeout: 2 * time.Second}
}

const testKey = "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

// docJSON is a one-key document about id, in the JSON-LD representation
// unless plain; extra members are appended verbatim.
func docJSON(id string, plain bool, extra string) string {
	ctx := `"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/suites/ed25519-2020/v1"],`
	if plain {
		ctx = ""
	}
	return `{` + ctx + `"id":"` + id + `","verificationMethod":[{"id":"` + id + `#key-1","type":"Ed25519VerificationKey2020",` +
		`"controller":"` + id + `","publicKeyMultibase":"` + testKey + `"}],"authentication":["` + id + `#key-1"],` +
		`"assertionMethod":["#key-1"]` + extra + `}`
}

func TestResolveRemote(t *testing.T) {
	h := newHost(t)
	root, alice, plain := h.did(), h.did("users", "alice"), h.did("plain")
	h.serve("/.well-known/did.json", docJSON(root, false, ""))
	h.serve("/users/alice/did.json", docJSON(alice, false, ""))
	h.serve("/plain/did.json", docJSON(plain, true, ""))
	for _, tc := range []struct {
		name, did   string
		wantContext []string
	}{
		{"well-known", root, []string{did.ContextDIDv1, "https://w3id.org/security/suites/ed25519-2020/v1"}},
		{"path", alice, []string{did.ContextDIDv1, "https://w3id.org/security/suites/ed25519-2020/v1"}},
		{"did+json", plain, []string{did.ContextDIDv1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.remote().ResolveRemote(context.Background(), tc.did)
			if err != nil {
				t.Fatalf("ResolveRemote: %v", err)
			}
			if res.Document.ID != tc.did || res.ResolutionMetadata.ContentType != did.MediaTypeDIDLDJSON {
				t.Errorf("result %+v", res)
			}
			if strings.Join(res.Document.Context, " ") != strings.Join(tc.wantContext, " ") {
				t.Errorf("@context = %v, want %v", res.Document.Context, tc.wantContext)
			}
			if res.TTL != DefaultTTL || res.Immutable {
				t.Errorf("TTL %v, immutable %v", res.TTL, res.Immutable)
			}
			key, err := did.VerificationKey(res.Document, tc.did+"#key-1", did.AssertionMethod)
			if err != nil || len(key) == 0 {
				t.Errorf("VerificationKey: %v", err)
			}
		})
	}
}

// TestResolveRemoteAccept checks the request: GET, over TLS, with the
// Accept the package documents.
func TestResolveRemoteAccept(t *testing.T) {
	h := newHost(t)
	id := h.did()
	var got *http.Request
	h.handle("/.well-known/did.json", func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		_, _ = w.Write([]byte(docJSON(id, false, "")))
	})
	if _, err := h.remote().ResolveRemote(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodGet || got.TLS == nil || got.Header.Get("Accept") != "application/did+json, application/json" {
		t.Errorf("request %s TLS=%v Accept=%q", got.Method, got.TLS != nil, got.Header.Get("Accept"))
	}
}

// TestResolveRemoteRefusals checks each refusal: its code and detail.
func TestResolveRemoteRefusals(t *testing.T) {
	h := newHost(t)
	other := "did:web:" + h.host + ":other"
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
	}
	redirect := func(to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
	}
	base := h.srv.URL
	localhost := strings.Replace(base, "127.0.0.1", "localhost", 1)
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	type tc struct {
		name         string
		seg          string // the path segment; the document is at /<seg>/did.json
		handler      func(id string) http.HandlerFunc
		code, detail string
	}
	body := func(f func(id string) string) func(string) http.HandlerFunc {
		return func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(f(id))) }
		}
	}
	h.handle("/hop/a", redirect("/hop/b"))
	h.handle("/hop/b", redirect("/hop/a"))
	for i := 1; i <= 4; i++ {
		h.handle(fmt.Sprintf("/chain/%d", i), redirect(fmt.Sprintf("/chain/%d", i+1)))
	}
	for _, c := range []tc{
		{"404", "s404", func(string) http.HandlerFunc { return status(404) }, did.ErrorNotFound, DetailNotFound},
		{"410", "s410", func(string) http.HandlerFunc { return status(410) }, did.ErrorNotFound, DetailNotFound},
		{"500", "s500", func(string) http.HandlerFunc { return status(500) }, did.ErrorInternal, DetailHTTPStatus},
		{"204", "s204", func(string) http.HandlerFunc { return status(204) }, did.ErrorInternal, DetailHTTPStatus},
		{"too-large", "large", body(func(id string) string { return docJSON(id, false, `,"x":"`+strings.Repeat("a", 4096)+`"`) }),
			did.ErrorInvalidDIDDocument, DetailTooLarge},
		{"too-large-chunked", "chunked", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				for i := 0; i < 10; i++ {
					_, _ = w.Write([]byte(strings.Repeat(" ", 1000)))
					w.(http.Flusher).Flush()
				}
				_, _ = w.Write([]byte(docJSON(id, false, "")))
			}
		}, did.ErrorInvalidDIDDocument, DetailTooLarge},
		{"too-deep", "deep", body(func(id string) string { return docJSON(id, false, `,"x":`+deep) }),
			did.ErrorInvalidDIDDocument, DetailTooDeep},
		{"not-json", "notjson", body(func(string) string { return "<html>hello</html>" }), did.ErrorInvalidDIDDocument, DetailInvalidDocument},
		{"duplicate-member", "dup", body(func(id string) string { return `{"id":"` + id + `","id":"` + id + `"}` }),
			did.ErrorInvalidDIDDocument, DetailInvalidDocument},
		{"private-key", "priv", body(func(id string) string {
			return `{"id":"` + id + `","verificationMethod":[{"id":"#k","type":"JsonWebKey2020","controller":"` + id +
				`","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}}]}`
		}), did.ErrorInvalidDIDDocument, DetailInvalidDocument},
		{"id-mismatch", "mismatch", body(func(string) string { return docJSON(other, false, "") }),
			did.ErrorInvalidDIDDocument, DetailIDMismatch},
		{"external-relationship", "extrel", body(func(id string) string {
			return strings.Replace(docJSON(id, false, ""), `"authentication":["`+id+`#key-1"]`, `"authentication":["`+other+`#key-1"]`, 1)
		}), did.ErrorInvalidDIDDocument, DetailExternalReference},
		{"external-method", "extvm", body(func(id string) string {
			return strings.Replace(docJSON(id, false, ""), `"id":"`+id+`#key-1"`, `"id":"`+other+`#key-1"`, 1)
		}), did.ErrorInvalidDIDDocument, DetailExternalReference},
		{"unknown-reference", "unknown", body(func(id string) string { return docJSON(id, false, `,"capabilityInvocation":["#key-2"]`) }),
			did.ErrorInvalidDIDDocument, DetailUnknownReference},
		{"redirect-other-host", "rhost", func(id string) http.HandlerFunc { return redirect(localhost + "/ok/did.json") },
			did.ErrorInternal, DetailRedirectRefused},
		{"redirect-http", "rhttp", func(id string) http.HandlerFunc {
			return redirect(strings.Replace(base, "https:", "http:", 1) + "/ok/did.json")
		}, did.ErrorInternal, DetailRedirectRefused},
		{"redirect-self", "rself", func(id string) http.HandlerFunc { return redirect("/rself/did.json") },
			did.ErrorInternal, DetailRedirectLoop},
		{"redirect-cycle", "rcycle", func(id string) http.HandlerFunc { return redirect("/hop/a") },
			did.ErrorInternal, DetailRedirectLoop},
		{"redirect-too-many", "rmany", func(id string) http.HandlerFunc { return redirect("/chain/1") },
			did.ErrorInternal, DetailTooManyRedirects},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := h.did(c.seg)
			h.handle("/"+c.seg+"/did.json", c.handler(id))
			wantRefusal(t, h.remote(), id, c.code, c.detail)
		})
	}
	if n := h.hitsOf("/chain/4"); n != 0 {
		t.Errorf("the fourth redirect was followed (%d requests)", n)
	}
}

// TestResolveRemoteRedirects follows redirects on the same host, up to
// MaxRedirects.
func TestResolveRemoteRedirects(t *testing.T) {
	h := newHost(t)
	id := h.did("moved")
	h.handle("/moved/did.json", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/r/1", http.StatusMovedPermanently) })
	h.handle("/r/1", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/r/2", http.StatusFound) })
	h.handle("/r/2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, h.srv.URL+"/r/3", http.StatusTemporaryRedirect)
	})
	h.serve("/r/3", docJSON(id, false, ""))
	res, err := h.remote().ResolveRemote(context.Background(), id)
	if err != nil {
		t.Fatalf("three same-host redirects: %v", err)
	}
	if res.Document.ID != id {
		t.Errorf("id %q", res.Document.ID)
	}
}

// TestResolveRemoteCyclicDocuments resolves documents whose controller and
// alsoKnownAs name themselves and a second did:web that names the first
// back: each resolves on its own, without fetching the other.
func TestResolveRemoteCyclicDocuments(t *testing.T) {
	h := newHost(t)
	a, b := h.did("a"), h.did("b")
	links := func(self, peer string) string {
		return `,"controller":["` + self + `","` + peer + `"],"alsoKnownAs":["` + self + `","` + peer + `"]`
	}
	h.serve("/a/did.json", docJSON(a, false, links(a, b)))
	h.serve("/b/did.json", docJSON(b, false, links(b, a)))
	res, err := h.remote().ResolveRemote(context.Background(), a)
	if err != nil {
		t.Fatalf("ResolveRemote: %v", err)
	}
	if len(res.Document.Controller) != 2 || res.Document.Controller[1] != b {
		t.Errorf("controller = %v", res.Document.Controller)
	}
	if got := string(res.Document.Extensions["alsoKnownAs"]); !strings.Contains(got, b) {
		t.Errorf("alsoKnownAs = %s", got)
	}
	if h.hitsOf("/a/did.json") != 1 || h.hitsOf("/b/did.json") != 0 || h.requests() != 1 {
		t.Errorf("requests: a %d, b %d, total %d; want 1, 0, 1", h.hitsOf("/a/did.json"), h.hitsOf("/b/did.json"), h.requests())
	}
	if _, err := h.remote().ResolveRemote(context.Background(), b); err != nil {
		t.Fatalf("ResolveRemote(b): %v", err)
	}
	if h.hitsOf("/a/did.json") != 1 || h.hitsOf("/b/did.json") != 1 {
		t.Errorf("resolving b fetched a again")
	}
}

// TestResolveRemotePrivate checks that with AllowPrivate off the loopback
// host is refused before any request reaches it, whether the DID names
// the address or a name that resolves to it.
func TestResolveRemotePrivate(t *testing.T) {
	h := newHost(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "https://"))
	for _, id := range []string{h.did(), "did:web:localhost%3A" + port} {
		t.Run(id, func(t *testing.T) {
			h.serve("/.well-known/did.json", docJSON(id, false, ""))
			r := h.remote()
			r.AllowPrivate = false
			wantRefusal(t, r, id, did.ErrorInternal, DetailPrivateAddress)
			if n := h.requests(); n != 0 {
				t.Errorf("%d requests reached the host", n)
			}
		})
	}
}

func TestResolveRemoteTimeoutAndCancel(t *testing.T) {
	h := newHost(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h.handle("/.well-known/did.json", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	id := h.did()
	r := h.remote()
	r.Timeout = 50 * time.Millisecond
	wantRefusal(t, r, id, did.ErrorInternal, DetailTimeout)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.remote().ResolveRemote(ctx, id)
	checkRefusal(t, err, did.ErrorInternal, DetailCanceled)
}

func TestResolveRemoteFetchFailures(t *testing.T) {
	h := newHost(t)
	id := h.did()
	h.serve("/.well-known/did.json", docJSON(id, false, ""))
	// Default client: the test certificate is not trusted.
	wantRefusal(t, &Remote{AllowPrivate: true}, id, did.ErrorInternal, DetailFetchFailed)
	// Nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "did:web:" + strings.Replace(l.Addr().String(), ":", "%3A", 1)
	l.Close()
	wantRefusal(t, h.remote(), closed, did.ErrorInternal, DetailFetchFailed)
	// A transport Remote cannot guard.
	r := &Remote{Client: &http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("unused")
	})}, AllowPrivate: true}
	wantRefusal(t, r, id, did.ErrorInternal, "")
	wantRefusal(t, h.remote(), "did:web:127.0.0.1:..", did.ErrorInvalidDID, did.DetailWebInvalid)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestResolveRemoteTTL(t *testing.T) {
	h := newHost(t)
	for _, tc := range []struct {
		cc  string
		ttl time.Duration
	}{
		{"", DefaultTTL},
		{"max-age=60", time.Minute},
		{"public, max-age=86400", DefaultTTL},
		{"no-store", 0},
		{"no-cache", 0},
		{"max-age=abc", 0},
	} {
		t.Run(tc.cc, func(t *testing.T) {
			id := h.did()
			h.handle("/.well-known/did.json", func(w http.ResponseWriter, _ *http.Request) {
				if tc.cc != "" {
					w.Header().Set("Cache-Control", tc.cc)
				}
				_, _ = w.Write([]byte(docJSON(id, false, "")))
			})
			res, err := h.remote().ResolveRemote(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if res.TTL != tc.ttl {
				t.Errorf("TTL = %v, want %v", res.TTL, tc.ttl)
			}
		})
	}
}

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"93.184.216.34", true}, {"8.8.8.8", true}, {"2606:4700::1111", true}, {"100.63.255.255", true},
		{"100.128.0.0", true}, {"172.32.0.1", true},
		{"127.0.0.1", false}, {"127.255.255.254", false}, {"::1", false}, {"10.1.2.3", false},
		{"172.16.0.1", false}, {"172.31.255.255", false}, {"192.168.1.1", false}, {"fc00::1", false},
		{"fd12:3456::1", false}, {"169.254.169.254", false}, {"fe80::1", false}, {"0.0.0.0", false},
		{"::", false}, {"224.0.0.1", false}, {"ff02::1", false}, {"100.64.0.1", false},
		{"100.127.255.255", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"64:ff9b::808:808", true}, {"0.1.2.3", false}, {"240.0.0.1", false},
		{"255.255.255.255", false}, {"198.18.0.1", false}, {"fe80::1%eth0", false},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			if got := Public(netip.MustParseAddr(tc.ip)); got != tc.public {
				t.Errorf("Public(%s) = %v, want %v", tc.ip, got, tc.public)
			}
		})
	}
}

func wantRefusal(t *testing.T, r *Remote, id, code, detail string) {
	t.Helper()
	res, err := r.ResolveRemote(context.Background(), id)
	if err == nil {
		t.Fatalf("ResolveRemote(%q) = %+v, want %s/%s", id, res, code, detail)
	}
	checkRefusal(t, err, code, detail)
}

func checkRefusal(t *testing.T, err error, code, detail string) {
	t.Helper()
	var re *did.ResolutionError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *did.ResolutionError", err, err)
	}
	if re.Code != code || re.Detail != detail {
		t.Errorf("refusal %s/%s, want %s/%s (%v)", re.Code, re.Detail, code, detail, err)
	}
	if re.Message == "" || strings.Contains(re.Message, "127.0.0.1") {
		t.Errorf("message %q is empty or names an address", re.Message)
	}
}

// FuzzCheckDocument feeds arbitrary bodies to the document checks: no
// panic, every refusal an invalidDidDocument with a detail, every
// acceptance a document about the DID whose references are all its own
// defined methods and which marshals.
func FuzzCheckDocument(f *testing.F) {
	const id = "did:web:example.com"
	for _, s := range []string{
		docJSON(id, false, ""), docJSON(id, true, ""), docJSON("did:web:other.example", false, ""),
		docJSON(id, false, `,"controller":["did:web:example.com","did:web:b.example"]`),
		docJSON(id, false, `,"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		`{"id":"did:web:example.com","authentication":["did:web:b.example#k"]}`,
		`{"id":"did:web:example.com","x":"[[[[\"\\"}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := checkDocument(id, body)
		if err != nil {
			var re *did.ResolutionError
			if !errors.As(err, &re) || re.Code != did.ErrorInvalidDIDDocument || re.Detail == "" {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		if doc.ID != id || len(doc.Context) == 0 || doc.Context[0] != did.ContextDIDv1 {
			t.Fatalf("accepted %+v", doc)
		}
		ids := map[string]bool{}
		for _, vm := range doc.VerificationMethod {
			abs, ok := ownURL(id, vm.ID)
			if !ok {
				t.Fatalf("foreign method %q", vm.ID)
			}
			ids[abs] = true
		}
		for _, refs := range [][]string{doc.Authentication, doc.AssertionMethod, doc.CapabilityDelegation, doc.CapabilityInvocation} {
			for _, ref := range refs {
				if abs, ok := ownURL(id, ref); !ok || !ids[abs] {
					t.Fatalf("reference %q", ref)
				}
			}
		}
		if _, err := json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	})
}
