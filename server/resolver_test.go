package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/web"
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
		{"key-version", identifiersPrefix + testKeyDID + "?versionId=1", "", 404, did.ErrorNotFound},
		{"empty-query", identifiersPrefix + testKeyDID + "?", "", 400, did.ErrorInvalidDID},
		{"other-query", identifiersPrefix + testKeyDID + "?service=files", "", 400, did.ErrorInvalidDID},
		{"version-repeated", identifiersPrefix + testKeyDID + "?versionId=1&versionId=2", "", 400, did.ErrorInvalidDID},
		{"version-and-other", identifiersPrefix + testKeyDID + "?versionId=1&x=2", "", 400, did.ErrorInvalidDID},
		{"version-semicolon", identifiersPrefix + testKeyDID + "?versionId=1;x=2", "", 400, did.ErrorInvalidDID},
		{"version-empty", identifiersPrefix + testKeyDID + "?versionId=", "", 400, did.ErrorInvalidDID},
		{"version-bad-escape", identifiersPrefix + testKeyDID + "?versionId=%zz", "", 400, did.ErrorInvalidDID},
		{"version-case", identifiersPrefix + testKeyDID + "?versionid=1", "", 400, did.ErrorInvalidDID},
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
	s.writeResolutionError(rec, req, &did.ResolutionError{Code: "bogusCode", Message: "secret detail", Err: errors.New("disk on fire")})
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
	for _, code := range did.ErrorCodes {
		if !slices.Contains(resolutionErrorCodes, code) {
			t.Errorf("resolver error code %s is not in resolutionErrorCodes", code)
		}
	}
	for _, d := range resolutionDetails {
		if !strings.Contains(spec, "| `"+d+"` |") {
			t.Errorf("clawnetError %s is not in the endpoint's detail table", d)
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

// fakeHosted is a hosted did:web source in the shape of
// spec/did-web.md: alice has versions 3 (created) and 5 (rotated to
// key-2); gone was created at 4 and deactivated at 9.
type fakeHosted struct{ host, origin string }

const (
	hostedHost = "localhost%3A8080"
	aliceDID   = "did:web:" + hostedHost + ":owners:alice"
	goneDID    = "did:web:" + hostedHost + ":owners:gone"
)

func hostedDocument(id string, n int) *did.Document {
	kid := fmt.Sprintf("%s#key-%d", id, n)
	return &did.Document{
		Context: []string{did.ContextDIDv1, "https://w3id.org/security/suites/ed25519-2020/v1"},
		ID:      id,
		VerificationMethod: []did.VerificationMethod{{ID: kid, Type: "Ed25519VerificationKey2020", Controller: id,
			PublicKeyMultibase: strings.TrimPrefix(testKeyDID, "did:key:")}},
		Authentication:  []string{kid},
		AssertionMethod: []string{kid},
	}
}

func (h fakeHosted) ResolveHosted(_ context.Context, id, version string) (*did.Result, error) {
	receipt := func(v string) string { return "http://localhost:8080/log/v1/receipts/" + v }
	ok := func(doc *did.Document, m did.DocumentMetadata) (*did.Result, error) {
		return &did.Result{Document: doc, ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON},
			DocumentMetadata: m}, nil
	}
	switch {
	case id == aliceDID && (version == "" || version == "5"):
		return ok(hostedDocument(id, 2), did.DocumentMetadata{Created: "2026-11-25T12:00:00Z", Updated: "2026-11-25T12:10:00Z",
			VersionID: "5", LogEntry: receipt("5")})
	case id == aliceDID && version == "3":
		return ok(hostedDocument(id, 1), did.DocumentMetadata{Created: "2026-11-25T12:00:00Z", Updated: "2026-11-25T12:00:00Z",
			VersionID: "3", NextUpdate: "2026-11-25T12:10:00Z", NextVersionID: "5", LogEntry: receipt("3")})
	case id == goneDID && version == "4":
		return ok(hostedDocument(id, 1), did.DocumentMetadata{Created: "2026-11-25T12:01:00Z", Updated: "2026-11-25T12:01:00Z",
			VersionID: "4", NextUpdate: "2026-11-25T12:20:00Z", NextVersionID: "9", LogEntry: receipt("4")})
	case id == goneDID && (version == "" || version == "9"):
		return nil, &did.ResolutionError{Code: did.ErrorDeactivated, Message: "the DID is deactivated",
			Metadata: &did.DocumentMetadata{Created: "2026-11-25T12:01:00Z", Updated: "2026-11-25T12:20:00Z",
				Deactivated: true, VersionID: "9", LogEntry: receipt("9")}}
	}
	return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no such DID or version"}
}

// resolverHandler serves the endpoint with r, in process.
func resolverHandler(t *testing.T, r *did.Resolver) (http.Handler, *syncBuffer) {
	logs := &syncBuffer{}
	s := &Server{logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), resolver: r}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := s.resolveDID(w, req); err != nil {
			t.Errorf("resolveDID: %v", err)
		}
	}), logs
}

func get(h http.Handler, target, accept string) response {
	req := httptest.NewRequest("GET", target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

type resultJSON struct {
	Context  string          `json:"@context"`
	Document json.RawMessage `json:"didDocument"`
	Meta     struct {
		ContentType  string `json:"contentType"`
		Error        string `json:"error"`
		ErrorMessage string `json:"errorMessage"`
		ClawnetError string `json:"clawnetError"`
	} `json:"didResolutionMetadata"`
	DocMeta did.DocumentMetadata `json:"didDocumentMetadata"`
}

// TestResolveHostedDID resolves hosted did:web versions over the endpoint:
// current, past (with nextVersionId), deactivated (410 with its metadata),
// a past version of a deactivated DID, and unknown ones; hosted results
// are never cacheable.
func TestResolveHostedDID(t *testing.T) {
	h, _ := resolverHandler(t, &did.Resolver{Hosted: fakeHosted{}, HostedHost: hostedHost})
	path := func(id, v string) string {
		p := identifiersPath(id)
		if v != "" {
			p += "?versionId=" + v
		}
		return p
	}
	for _, tc := range []struct {
		name, did, version string
		status             int
		code               string
		kid                string
		meta               did.DocumentMetadata
	}{
		{"current", aliceDID, "", 200, "", aliceDID + "#key-2", did.DocumentMetadata{Created: "2026-11-25T12:00:00Z",
			Updated: "2026-11-25T12:10:00Z", VersionID: "5", LogEntry: "http://localhost:8080/log/v1/receipts/5"}},
		{"current-by-version", aliceDID, "5", 200, "", aliceDID + "#key-2", did.DocumentMetadata{Created: "2026-11-25T12:00:00Z",
			Updated: "2026-11-25T12:10:00Z", VersionID: "5", LogEntry: "http://localhost:8080/log/v1/receipts/5"}},
		{"past", aliceDID, "3", 200, "", aliceDID + "#key-1", did.DocumentMetadata{Created: "2026-11-25T12:00:00Z",
			Updated: "2026-11-25T12:00:00Z", VersionID: "3", NextUpdate: "2026-11-25T12:10:00Z", NextVersionID: "5",
			LogEntry: "http://localhost:8080/log/v1/receipts/3"}},
		{"deactivated", goneDID, "", 410, did.ErrorDeactivated, "", did.DocumentMetadata{Created: "2026-11-25T12:01:00Z",
			Updated: "2026-11-25T12:20:00Z", Deactivated: true, VersionID: "9", LogEntry: "http://localhost:8080/log/v1/receipts/9"}},
		{"deactivated-past", goneDID, "4", 200, "", goneDID + "#key-1", did.DocumentMetadata{Created: "2026-11-25T12:01:00Z",
			Updated: "2026-11-25T12:01:00Z", VersionID: "4", NextUpdate: "2026-11-25T12:20:00Z", NextVersionID: "9",
			LogEntry: "http://localhost:8080/log/v1/receipts/4"}},
		{"unknown-version", aliceDID, "4", 404, did.ErrorNotFound, "", did.DocumentMetadata{}},
		{"unknown-did", "did:web:" + hostedHost + ":owners:bob", "", 404, did.ErrorNotFound, "", did.DocumentMetadata{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(h, path(tc.did, tc.version), did.MediaTypeDIDResolution)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", cc)
			}
			var res resultJSON
			decodeStrict(t, r.body, &res)
			if res.Meta.Error != tc.code || res.DocMeta != tc.meta {
				t.Errorf("error %q, metadata %+v; want %q, %+v", res.Meta.Error, res.DocMeta, tc.code, tc.meta)
			}
			if tc.code != "" {
				if string(res.Document) != "null" {
					t.Errorf("didDocument = %s, want null", res.Document)
				}
				return
			}
			checkDIDDocument(t, res.Document, tc.did, true)
			doc, _ := did.ParseDocument(res.Document)
			if doc.VerificationMethod[0].ID != tc.kid {
				t.Errorf("kid %q, want %q", doc.VerificationMethod[0].ID, tc.kid)
			}
			// The bare document of the same version.
			d := get(h, path(tc.did, tc.version), did.MediaTypeDIDJSON)
			if d.status != 200 {
				t.Fatalf("did+json: %d", d.status)
			}
			checkDIDDocument(t, d.body, tc.did, false)
		})
	}
}

// remoteHost is a loopback TLS did:web host serving one document per
// path.
func remoteHost(t *testing.T, docs map[string]func(id string) (int, string)) (*httptest.Server, string) {
	srv := httptest.NewTLSServer(nil)
	host := strings.Replace(strings.TrimPrefix(srv.URL, "https://"), ":", "%3A", 1)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/did.json")
		f := docs[seg]
		if f == nil {
			http.NotFound(w, r)
			return
		}
		status, body := f("did:web:" + host + ":" + seg)
		if status == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	t.Cleanup(srv.Close)
	return srv, host
}

// TestResolveRemoteDID resolves remote did:web over the endpoint, from a
// loopback TLS host: success with a max-age, the resolver's cache, and the
// remote failures with their statuses and details.
func TestResolveRemoteDID(t *testing.T) {
	calls := 0
	docBody := func(id string) string {
		b, err := hostedDocument(id, 1).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	srv, host := remoteHost(t, map[string]func(string) (int, string){
		"ok":      func(id string) (int, string) { calls++; return 200, docBody(id) },
		"big":     func(id string) (int, string) { return 200, docBody(id) + strings.Repeat(" ", 4096) },
		"other":   func(id string) (int, string) { return 200, docBody("did:web:example.com") },
		"broken":  func(id string) (int, string) { return 503, "" },
		"slow":    func(id string) (int, string) { return 0, "" },
		"garbage": func(id string) (int, string) { return 200, "{" },
	})
	now := testNow
	// A timeout long enough for a loaded race run, except for the one case
	// that must time out, which gets its own short-timeout resolver.
	remote := &web.Remote{Client: srv.Client(), AllowPrivate: true, MaxSize: 2048, Timeout: 10 * time.Second, TTL: time.Minute}
	h, logs := resolverHandler(t, &did.Resolver{Remote: remote, Cache: did.NewCache(16, func() time.Time { return now })})
	hasty := &web.Remote{Client: srv.Client(), AllowPrivate: true, MaxSize: 2048, Timeout: 200 * time.Millisecond, TTL: time.Minute}
	hSlow, slowLogs := resolverHandler(t, &did.Resolver{Remote: hasty})
	id := func(seg string) string { return "did:web:" + host + ":" + seg }

	r := get(h, identifiersPath(id("ok")), did.MediaTypeDIDResolution)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var res resultJSON
	decodeStrict(t, r.body, &res)
	checkDIDDocument(t, res.Document, id("ok"), true)
	now = now.Add(15 * time.Second)
	r = get(h, identifiersPath(id("ok")), did.MediaTypeDIDLDJSON)
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=45" || calls != 1 {
		t.Errorf("cached: %d, %q, %d fetches", r.status, r.header.Get("Cache-Control"), calls)
	}
	r = get(h, identifiersPath(id("ok"))+"?versionId=1", "")
	if r.status != 404 {
		t.Errorf("remote with versionId: %d", r.status)
	}

	for _, tc := range []struct {
		seg    string
		status int
		code   string
		detail string
	}{
		{"missing", 404, did.ErrorNotFound, web.DetailNotFound},
		{"big", 502, did.ErrorInvalidDIDDocument, web.DetailTooLarge},
		{"other", 502, did.ErrorInvalidDIDDocument, web.DetailIDMismatch},
		{"garbage", 502, did.ErrorInvalidDIDDocument, web.DetailInvalidDocument},
		{"broken", 502, did.ErrorInternal, web.DetailHTTPStatus},
		{"slow", 504, did.ErrorInternal, web.DetailTimeout},
		{"..", 400, did.ErrorInvalidDID, did.DetailWebInvalid},
	} {
		t.Run(tc.seg, func(t *testing.T) {
			hh := h
			if tc.seg == "slow" {
				hh = hSlow
			}
			r := get(hh, identifiersPath(id(tc.seg)), "")
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var res resultJSON
			decodeStrict(t, r.body, &res)
			if res.Meta.Error != tc.code || res.Meta.ClawnetError != tc.detail || string(res.Document) != "null" {
				t.Errorf("result %s", r.body)
			}
			if r.status >= 500 && r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
			}
			if bytes.Contains(r.body, []byte("127.0.0.1")) {
				t.Errorf("the answer names the address: %s", r.body)
			}
		})
	}
	if strings.Contains(logs.String()+slowLogs.String(), "level=ERROR") {
		t.Errorf("a remote host's fault logged as an error:\n%s%s", logs, slowLogs)
	}

	// With private addresses refused, the loopback host is never asked.
	calls = 0
	guarded, _ := resolverHandler(t, &did.Resolver{Remote: &web.Remote{Client: srv.Client()}})
	r = get(guarded, identifiersPath(id("ok")), "")
	var pres resultJSON
	decodeStrict(t, r.body, &pres)
	if r.status != 502 || pres.Meta.ClawnetError != web.DetailPrivateAddress || calls != 0 {
		t.Errorf("private: %d %s, %d fetches", r.status, r.body, calls)
	}
}
