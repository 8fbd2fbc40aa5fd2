package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did"
)

const (
	testKeyDID  = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	didKeyDir   = "../spec/testdata/did-key"
	ldProfileCT = `application/ld+json;profile="https://w3id.org/did-resolution"`
)

func identifiersPath(id string) string {
	return identifiersPrefix + url.PathEscape(id)
}

// TestResolveDIDRepresentations resolves a did:key over loopback HTTP with
// each Accept value and checks the negotiated representation against DID
// Core and DID Resolution.
func TestResolveDIDRepresentations(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		name   string
		accept []string // nil: no Accept header
		want   string   // the Content-Type of the response
	}{
		{"absent", nil, did.MediaTypeDIDLDJSON},
		{"empty", []string{""}, did.MediaTypeDIDLDJSON},
		{"any", []string{"*/*"}, did.MediaTypeDIDLDJSON},
		{"application-any", []string{"application/*"}, did.MediaTypeDIDLDJSON},
		{"did+ld+json", []string{"application/did+ld+json"}, did.MediaTypeDIDLDJSON},
		{"did+json", []string{"application/did+json"}, did.MediaTypeDIDJSON},
		{"did+json-case", []string{"Application/DID+JSON"}, did.MediaTypeDIDJSON},
		{"did-resolution", []string{"application/did-resolution"}, did.MediaTypeDIDResolution},
		{"ld+json-profile", []string{ldProfileCT}, ldProfileCT},
		{"ld+json-profile-spaces", []string{`application/ld+json ; profile="https://w3id.org/did-resolution"`}, ldProfileCT},
		{"ld+json-profile-list", []string{`application/ld+json;profile="https://example.com/x https://w3id.org/did-resolution"`}, ldProfileCT},
		{"q-prefers-resolution", []string{"application/did+json;q=0.5, application/did-resolution"}, did.MediaTypeDIDResolution},
		{"q-prefers-json", []string{"application/did+ld+json;q=0.1,application/did+json;q=0.9"}, did.MediaTypeDIDJSON},
		{"q-zero-excludes", []string{"application/did+ld+json;q=0, */*;q=0.1"}, did.MediaTypeDIDJSON},
		{"specific-beats-wildcard", []string{"*/*;q=1, application/did+ld+json;q=0.2, application/did+json;q=0.3"}, did.MediaTypeDIDResolution},
		{"two-headers", []string{"text/html", "application/did-resolution"}, did.MediaTypeDIDResolution},
		{"malformed-range-skipped", []string{"application/did+json;q=2, application/did-resolution"}, did.MediaTypeDIDResolution},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.accept != nil {
				h["Accept"] = tc.accept
			}
			r := e.do("GET", identifiersPath(testKeyDID), h, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != tc.want {
				t.Errorf("Content-Type = %q, want %q", got, tc.want)
			}
			if got := r.header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := r.header.Get("Vary"); got != "Accept" {
				t.Errorf("Vary = %q", got)
			}
			switch tc.want {
			case did.MediaTypeDIDResolution, ldProfileCT:
				checkResolutionResult(t, r.body, testKeyDID)
			case did.MediaTypeDIDLDJSON:
				checkDIDDocument(t, r.body, testKeyDID, true)
			case did.MediaTypeDIDJSON:
				checkDIDDocument(t, r.body, testKeyDID, false)
			}
		})
	}
}

// TestResolveDIDErrors checks each refusal: status, an error resolution
// result (never the generic ErrorBody), and no caching.
func TestResolveDIDErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		name   string
		target string
		accept string
		status int
		code   string
	}{
		{"not-a-did", identifiersPrefix + "hello", "", 400, did.ErrorInvalidDID},
		{"empty", identifiersPrefix, "", 400, did.ErrorInvalidDID},
		{"uppercase-method", identifiersPrefix + "did:KEY:z6Mk", "", 400, did.ErrorInvalidDID},
		{"bad-did-key", identifiersPrefix + "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do", "", 400, did.ErrorInvalidDID},
		{"did-key-other-codec", identifiersPrefix + "did:key:z6LSfg76x3LLQjPg3AmMPWo7kdWPHeXbnDLDEbYPBESjbxWC", "", 400, did.ErrorInvalidDID},
		{"raw-path", identifiersPrefix + testKeyDID + "/path", "", 400, did.ErrorInvalidDID},
		{"encoded-path", identifiersPrefix + testKeyDID + "%2Fpath", "", 400, did.ErrorInvalidDID},
		{"query", identifiersPrefix + testKeyDID + "?versionId=1", "", 400, did.ErrorInvalidDID},
		{"empty-query", identifiersPrefix + testKeyDID + "?", "", 400, did.ErrorInvalidDID},
		{"encoded-query", identifiersPrefix + testKeyDID + "%3FversionId=1", "", 400, did.ErrorInvalidDID},
		{"encoded-fragment", identifiersPrefix + testKeyDID + "%23key-1", "", 400, did.ErrorInvalidDID},
		{"did-web", identifiersPrefix + "did:web:example.com", "", 501, did.ErrorMethodNotSupported},
		{"did-web-hosted", identifiersPrefix + "did:web:127.0.0.1%253A8080:owners:alice", "", 501, did.ErrorMethodNotSupported},
		{"other-method", identifiersPrefix + "did:example:123", "application/did-resolution", 501, did.ErrorMethodNotSupported},
		{"accept-html", identifiersPath(testKeyDID), "text/html", 406, did.ErrorRepresentationNotSupported},
		{"accept-json", identifiersPath(testKeyDID), "application/json", 406, did.ErrorRepresentationNotSupported},
		{"accept-ld+json-no-profile", identifiersPath(testKeyDID), "application/ld+json", 406, did.ErrorRepresentationNotSupported},
		{"accept-ld+json-other-profile", identifiersPath(testKeyDID), `application/ld+json;profile="https://example.com/p"`, 406, did.ErrorRepresentationNotSupported},
		{"accept-all-q0", identifiersPath(testKeyDID), "*/*;q=0", 406, did.ErrorRepresentationNotSupported},
		{"accept-malformed", identifiersPath(testKeyDID), "application/did+json;q=x", 406, did.ErrorRepresentationNotSupported},
		{"accept-406-before-invalid", identifiersPrefix + "nope", "text/plain", 406, did.ErrorRepresentationNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.accept != "" {
				h.Set("Accept", tc.accept)
			}
			r := e.do("GET", tc.target, h, nil)
			if r.status != tc.status {
				t.Errorf("status = %d, want %d; body %s", r.status, tc.status, r.body)
			}
			checkResolutionError(t, r, tc.code)
		})
	}
}

func checkResolutionError(t *testing.T, r response, code string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != did.MediaTypeDIDResolution {
		t.Errorf("Content-Type = %q, want %q", ct, did.MediaTypeDIDResolution)
	}
	if cc := r.header.Get("Cache-Control"); strings.Contains(cc, "immutable") || strings.Contains(cc, "max-age") {
		t.Errorf("error response is cacheable: Cache-Control %q", cc)
	}
	var res struct {
		Context  string          `json:"@context"`
		Document json.RawMessage `json:"didDocument"`
		Meta     struct {
			ContentType  string `json:"contentType"`
			Error        string `json:"error"`
			ErrorMessage string `json:"errorMessage"`
		} `json:"didResolutionMetadata"`
		DocMeta map[string]json.RawMessage `json:"didDocumentMetadata"`
	}
	decodeStrict(t, r.body, &res)
	if res.Context != did.ContextDIDResolutionV1 {
		t.Errorf("@context = %q", res.Context)
	}
	if len(res.Document) != 0 && string(res.Document) != "null" {
		t.Errorf("error result has a didDocument: %s", res.Document)
	}
	if res.Meta.Error != code {
		t.Errorf("error = %q, want %q", res.Meta.Error, code)
	}
	if res.Meta.ErrorMessage == "" {
		t.Errorf("no errorMessage")
	}
	if res.Meta.ContentType != "" {
		t.Errorf("error result names a contentType %q", res.Meta.ContentType)
	}
	if res.DocMeta == nil || len(res.DocMeta) != 0 {
		t.Errorf("didDocumentMetadata = %v, want {}", res.DocMeta)
	}
}

// TestResolveDIDKeyVectors resolves every valid did:key vector over HTTP;
// where the vector names the did:key specification's document, the result
// must be that document.
func TestResolveDIDKeyVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(didKeyDir, "ed25519.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Valid []struct {
			Name, DID, Document string
		} `json:"valid"`
	}
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors.Valid) < 4 {
		t.Fatalf("only %d valid vectors", len(vectors.Valid))
	}
	e := newEnv(t, envOptions{})
	docs := 0
	for _, v := range vectors.Valid {
		t.Run(v.Name, func(t *testing.T) {
			r := e.do("GET", identifiersPath(v.DID), http.Header{"Accept": {did.MediaTypeDIDLDJSON}}, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			checkDIDDocument(t, r.body, v.DID, true)
			if v.Document == "" {
				return
			}
			docs++
			want, err := os.ReadFile(filepath.Join(didKeyDir, v.Document))
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, r.body, want) {
				t.Errorf("document\n%s\nis not the did:key spec's\n%s", r.body, want)
			}
		})
	}
	if docs == 0 {
		t.Errorf("no vector names a document")
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
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
	return bytes.Equal(ja, jb)
}

// checkResolutionResult checks a successful DID resolution result (DID
// Resolution §7.1): exactly its four members, its context, a document in
// the representation its contentType names, and empty document metadata
// (did:key has none).
func checkResolutionResult(t *testing.T, body []byte, id string) {
	t.Helper()
	var res map[string]json.RawMessage
	decodeStrict(t, body, &res)
	var keys []string
	for k := range res {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"@context", "didDocument", "didDocumentMetadata", "didResolutionMetadata"}; !slices.Equal(keys, want) {
		t.Errorf("members %v, want %v", keys, want)
	}
	var ctx string
	if err := json.Unmarshal(res["@context"], &ctx); err != nil || ctx != did.ContextDIDResolutionV1 {
		t.Errorf("@context = %s", res["@context"])
	}
	var meta map[string]string
	decodeStrict(t, res["didResolutionMetadata"], &meta)
	if len(meta) != 1 || meta["contentType"] != did.MediaTypeDIDLDJSON {
		t.Errorf("didResolutionMetadata = %v, want only contentType %s", meta, did.MediaTypeDIDLDJSON)
	}
	// The contentType says JSON-LD, so the document must carry @context.
	checkDIDDocument(t, res["didDocument"], id, meta["contentType"] == did.MediaTypeDIDLDJSON)
	if got := string(res["didDocumentMetadata"]); got != "{}" {
		t.Errorf("didDocumentMetadata = %s, want {}", got)
	}
}

// checkDIDDocument checks a document against DID Core: it parses (syntax
// of every DID and DID URL), id is the DID, @context is present with the
// DID v1 context first exactly in the JSON-LD representation, every
// verification method has an id that is a DID URL of this DID with a
// fragment, a type and a controller, and every relationship reference
// resolves to a method of the document.
func checkDIDDocument(t *testing.T, body []byte, id string, ld bool) {
	t.Helper()
	var raw map[string]json.RawMessage
	decodeStrict(t, body, &raw)
	_, hasContext := raw["@context"]
	if hasContext != ld {
		t.Errorf("@context present = %v, want %v: %s", hasContext, ld, body)
	}
	doc, err := did.ParseDocument(body)
	if err != nil {
		t.Fatalf("ParseDocument: %v\n%s", err, body)
	}
	if ld && (len(doc.Context) == 0 || doc.Context[0] != did.ContextDIDv1) {
		t.Errorf("@context = %v, want first %s", doc.Context, did.ContextDIDv1)
	}
	if doc.ID != id {
		t.Errorf("id = %q, want %q", doc.ID, id)
	}
	if len(doc.VerificationMethod) == 0 {
		t.Fatalf("no verification method")
	}
	ids := map[string]bool{}
	for _, vm := range doc.VerificationMethod {
		u, err := did.ParseDIDURL(vm.ID)
		if err != nil || u.DID != id || u.Fragment == "" || u.Path != "" || u.Query != "" {
			t.Errorf("verification method id %q is not a DID URL of %s with a fragment (%v)", vm.ID, id, err)
		}
		if vm.Controller == "" || vm.Type == "" {
			t.Errorf("verification method %q: controller %q, type %q", vm.ID, vm.Controller, vm.Type)
		}
		if _, err := did.ParseDID(vm.Controller); err != nil {
			t.Errorf("verification method %q: controller: %v", vm.ID, err)
		}
		ids[vm.ID] = true
	}
	if len(doc.Authentication) == 0 {
		t.Errorf("no authentication relationship")
	}
	for name, refs := range map[string][]string{
		did.Authentication: doc.Authentication, did.AssertionMethod: doc.AssertionMethod,
		did.CapabilityDelegation: doc.CapabilityDelegation, did.CapabilityInvocation: doc.CapabilityInvocation,
	} {
		for _, ref := range refs {
			abs := ref
			if strings.HasPrefix(ref, "#") {
				abs = id + ref
			}
			if !ids[abs] {
				t.Errorf("%s reference %q is not a verification method of the document", name, ref)
			}
		}
	}
}

func TestResolveDIDMethods(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do("HEAD", identifiersPath(testKeyDID), nil, nil)
	if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Type") != did.MediaTypeDIDLDJSON {
		t.Errorf("HEAD: %d, %q, %d bytes", r.status, r.header.Get("Content-Type"), len(r.body))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		r := e.do(m, identifiersPath(testKeyDID), nil, nil)
		wantError(t, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("%s: Allow = %q", m, r.header.Get("Allow"))
		}
	}
}

// TestResolutionInternalError checks the 500 path, which no input reaches
// with did:key alone: a code the server does not know is a fault, logged,
// answered as internalError without the cause, and not cached.
func TestResolutionInternalError(t *testing.T) {
	logs := &syncBuffer{}
	s := &Server{logger: slog.New(slog.NewTextHandler(logs, nil))}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", identifiersPath(testKeyDID), nil)
	s.writeResolutionError(rec, req, "bogusCode", "secret detail", errors.New("disk on fire"))
	r := response{rec.Code, rec.Header(), rec.Body.Bytes()}
	if r.status != http.StatusInternalServerError {
		t.Errorf("status %d", r.status)
	}
	checkResolutionError(t, r, did.ErrorInternal)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if bytes.Contains(r.body, []byte("secret")) || bytes.Contains(r.body, []byte("fire")) {
		t.Errorf("internal details leaked: %s", r.body)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("cause not logged: %s", logs.String())
	}
}

// TestOpenAPIDocumentsResolution checks that the spec documents the
// endpoint, which routes() serves outside the route table, and each of
// its error codes.
func TestOpenAPIDocumentsResolution(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	if !strings.Contains(spec, "\n  "+identifiersPrefix+"{did}:\n    get:\n") {
		t.Errorf("GET %s{did} is not documented", identifiersPrefix)
	}
	for _, code := range resolutionErrorCodes {
		if !strings.Contains(spec, "| `"+code+"` |") {
			t.Errorf("resolution error %s is not in the endpoint's error table", code)
		}
		if _, ok := resolutionStatus[code]; !ok {
			t.Errorf("resolution error %s has no status", code)
		}
	}
}

// FuzzResolveDID sends arbitrary DIDs (as path remainders) and Accept
// values: nothing but a real fault may be a 500, every non-2xx is an error
// resolution result with a known code and the status the binding gives
// that code, and every 200 is in the representation it claims.
func FuzzResolveDID(f *testing.F) {
	for _, s := range []struct{ path, accept string }{
		{testKeyDID, ""},
		{testKeyDID, "application/did-resolution"},
		{testKeyDID, ldProfileCT},
		{testKeyDID, "application/did+json;q=0.3, */*;q=0.1"},
		{testKeyDID + "%2Fx", "application/did+json"},
		{testKeyDID + "?a=b", ""},
		{"did:web:example.com", ""},
		{"did:key:z", `application/ld+json;profile="a\"b"`},
		{"%zz", "*/*"},
		{"", `a/b;q=1.000;profile=",",*/*;q=0.`},
	} {
		f.Add(s.path, s.accept)
	}
	e := newEnv(f, envOptions{})
	f.Fuzz(func(t *testing.T, path, accept string) {
		req, err := http.NewRequest("GET", "http://fuzz.test"+identifiersPrefix+path, nil)
		if err != nil {
			return
		}
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		ct := rec.Header().Get("Content-Type")
		switch {
		case rec.Code == http.StatusOK:
			if !slices.Contains([]string{did.MediaTypeDIDLDJSON, did.MediaTypeDIDJSON, did.MediaTypeDIDResolution, ldProfileCT}, ct) {
				t.Fatalf("200 with Content-Type %q", ct)
			}
			return
		case rec.Code >= 300 && rec.Code < 400:
			t.Fatalf("%q: redirect %d", path, rec.Code)
		}
		if ct != did.MediaTypeDIDResolution {
			t.Fatalf("%q %q: %d with Content-Type %q: %s", path, accept, rec.Code, ct, rec.Body)
		}
		var res struct {
			Meta struct{ Error string } `json:"didResolutionMetadata"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("%d body: %v", rec.Code, err)
		}
		want, ok := resolutionStatus[res.Meta.Error]
		if !ok || want != rec.Code || res.Meta.Error == did.ErrorInternal {
			t.Fatalf("%q %q: %d %s", path, accept, rec.Code, rec.Body)
		}
	})
}
