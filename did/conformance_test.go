package did_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/web"
)

// CheckResult checks a serialized DID resolution result for the DID id
// against the requirements of DID Core 1.0 (§5, §7.1) and DID Resolution
// (§7.1, §7.2): the four members, the result context; on success a
// document in a supported representation whose id is the DID, whose
// verification methods have an id (a DID URL of the DID with a fragment),
// a type and a controller, whose relationships reference defined methods,
// and a contentType naming that representation; on failure a registered
// error code, a null document and no contentType; and the types of the
// document metadata members. It is self-contained so that other packages'
// tests can copy it.
func CheckResult(t testing.TB, id string, raw []byte) {
	t.Helper()
	var res map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("result is not a JSON object: %v\n%s", err, raw)
	}
	for _, m := range []string{"@context", "didDocument", "didResolutionMetadata", "didDocumentMetadata"} {
		if _, ok := res[m]; !ok {
			t.Errorf("result has no %q: %s", m, raw)
		}
	}
	var ctx string
	if err := json.Unmarshal(res["@context"], &ctx); err != nil || ctx != did.ContextDIDResolutionV1 {
		t.Errorf("@context = %s, want %q", res["@context"], did.ContextDIDResolutionV1)
	}
	var meta struct {
		ContentType  *string `json:"contentType"`
		Error        *string `json:"error"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if err := json.Unmarshal(res["didResolutionMetadata"], &meta); err != nil {
		t.Fatalf("didResolutionMetadata: %v", err)
	}
	checkDocumentMetadata(t, res["didDocumentMetadata"])
	if meta.Error != nil {
		if !slices.Contains(did.ErrorCodes, *meta.Error) {
			t.Errorf("error %q is not a registered DID Resolution error", *meta.Error)
		}
		if string(res["didDocument"]) != "null" {
			t.Errorf("failed result has a document: %s", res["didDocument"])
		}
		if meta.ContentType != nil {
			t.Errorf("failed result names a contentType %q", *meta.ContentType)
		}
		return
	}
	if meta.ContentType == nil {
		t.Fatalf("successful result has no contentType")
	}
	ld := *meta.ContentType == did.MediaTypeDIDLDJSON
	if !ld && *meta.ContentType != did.MediaTypeDIDJSON {
		t.Errorf("contentType %q is not a supported representation", *meta.ContentType)
	}
	var docMembers map[string]json.RawMessage
	if err := json.Unmarshal(res["didDocument"], &docMembers); err != nil {
		t.Fatalf("didDocument is not an object: %s", res["didDocument"])
	}
	if _, ok := docMembers["@context"]; ok != ld {
		t.Errorf("@context present = %v in a %s document", ok, *meta.ContentType)
	}
	doc, err := did.ParseDocument(res["didDocument"])
	if err != nil {
		t.Fatalf("didDocument: %v", err)
	}
	if doc.ID != id {
		t.Errorf("document id %q, want %q", doc.ID, id)
	}
	if ld && (len(doc.Context) == 0 || doc.Context[0] != did.ContextDIDv1) {
		t.Errorf("@context %v does not start with %s", doc.Context, did.ContextDIDv1)
	}
	methods := map[string]bool{}
	for _, vm := range doc.VerificationMethod {
		u, err := did.ParseDIDURL(vm.ID)
		if err != nil || u.DID != id || u.Fragment == "" || u.Path != "" || u.Query != "" {
			t.Errorf("verification method id %q is not a DID URL of %s with a fragment", vm.ID, id)
		}
		if vm.Type == "" || vm.Controller == "" {
			t.Errorf("verification method %q: type %q, controller %q", vm.ID, vm.Type, vm.Controller)
		}
		if _, err := did.ParseDID(vm.Controller); err != nil {
			t.Errorf("verification method %q: controller: %v", vm.ID, err)
		}
		methods[vm.ID] = true
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
			if !methods[abs] {
				t.Errorf("%s references %q, which the document does not define", name, ref)
			}
		}
	}
}

// checkDocumentMetadata checks the types of the didDocumentMetadata
// members DID Core §7.1.3 defines.
func checkDocumentMetadata(t testing.TB, raw json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Fatalf("didDocumentMetadata is not an object: %s", raw)
	}
	for name, v := range m {
		switch name {
		case "created", "updated", "nextUpdate":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				t.Errorf("%s = %s is not a string", name, v)
				continue
			}
			if tm, err := time.Parse(time.RFC3339, s); err != nil || tm.Location() != time.UTC || tm.Nanosecond() != 0 {
				t.Errorf("%s = %q is not an RFC 3339 UTC time with seconds", name, s)
			}
		case "deactivated":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				t.Errorf("deactivated = %s is not a boolean", v)
			}
		case "versionId", "nextVersionId", "logEntry":
			var s string
			if err := json.Unmarshal(v, &s); err != nil || s == "" {
				t.Errorf("%s = %s is not a non-empty string", name, v)
			}
		}
	}
}

// marshalOutcome returns the serialized result of a resolution: the
// result, or the result carrying the failure.
func marshalOutcome(t testing.TB, res *did.Result, err error) []byte {
	t.Helper()
	if err != nil {
		var re *did.ResolutionError
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not a *did.ResolutionError", err)
		}
		res = re.Result()
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// conformanceHosted is a hosted source with a current, a past and a
// deactivated DID, shaped as spec/did-web.md says.
type conformanceHosted struct{}

const confHost = "localhost%3A8080"

func confDoc(id string, n string) *did.Document {
	kid := id + "#key-" + n
	return &did.Document{
		Context: []string{did.ContextDIDv1, "https://w3id.org/security/suites/ed25519-2020/v1"}, ID: id,
		VerificationMethod: []did.VerificationMethod{{ID: kid, Type: "Ed25519VerificationKey2020", Controller: id,
			PublicKeyMultibase: "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}},
		Authentication: []string{kid}, AssertionMethod: []string{kid},
	}
}

func (conformanceHosted) ResolveHosted(_ context.Context, id, v string) (*did.Result, error) {
	ok := func(n string, m did.DocumentMetadata) (*did.Result, error) {
		return &did.Result{Document: confDoc(id, n), ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON},
			DocumentMetadata: m}, nil
	}
	switch {
	case strings.HasSuffix(id, ":alice") && v == "":
		return ok("2", did.DocumentMetadata{Created: "2026-11-25T12:00:00Z", Updated: "2026-11-25T12:10:00Z", VersionID: "5",
			LogEntry: "http://localhost:8080/log/v1/receipts/5"})
	case strings.HasSuffix(id, ":alice") && v == "3":
		return ok("1", did.DocumentMetadata{Created: "2026-11-25T12:00:00Z", Updated: "2026-11-25T12:00:00Z", VersionID: "3",
			NextUpdate: "2026-11-25T12:10:00Z", NextVersionID: "5", LogEntry: "http://localhost:8080/log/v1/receipts/3"})
	case strings.HasSuffix(id, ":gone"):
		return nil, &did.ResolutionError{Code: did.ErrorDeactivated, Message: "deactivated",
			Metadata: &did.DocumentMetadata{Created: "2026-11-25T12:00:00Z", Updated: "2026-11-25T12:20:00Z", Deactivated: true,
				VersionID: "9", LogEntry: "http://localhost:8080/log/v1/receipts/9"}}
	}
	return nil, &did.ResolutionError{Code: did.ErrorNotFound, Message: "no such DID"}
}

// TestConformance runs CheckResult on results of every source: did:key,
// hosted did:web (current, past, deactivated, missing), remote did:web
// through did/web from a loopback TLS host (JSON-LD and plain JSON
// documents, and a refusal), and resolver-level failures.
func TestConformance(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	t.Cleanup(srv.Close)
	host := strings.Replace(strings.TrimPrefix(srv.URL, "https://"), ":", "%3A", 1)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/did.json")
		id := "did:web:" + host + ":" + seg
		doc := confDoc(id, "1")
		switch seg {
		case "ld":
		case "plain":
			doc.Context = nil
		case "wrong":
			doc = confDoc("did:web:example.com", "1")
		default:
			http.NotFound(w, r)
			return
		}
		b, _ := doc.MarshalJSON()
		_, _ = w.Write(b)
	})
	r := &did.Resolver{
		Hosted: conformanceHosted{}, HostedHost: confHost,
		Remote: &web.Remote{Client: srv.Client(), AllowPrivate: true},
		Cache:  did.NewCache(8, nil),
	}
	hosted := func(name string) string { return "did:web:" + confHost + ":owners:" + name }
	remote := func(seg string) string { return "did:web:" + host + ":" + seg }
	for _, tc := range []struct {
		name, did, version string
		code               string
	}{
		{"key", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "", ""},
		{"key-again-cached", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "", ""},
		{"key-version", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "1", did.ErrorNotFound},
		{"hosted-current", hosted("alice"), "", ""},
		{"hosted-past", hosted("alice"), "3", ""},
		{"hosted-deactivated", hosted("gone"), "", did.ErrorDeactivated},
		{"hosted-missing", hosted("bob"), "", did.ErrorNotFound},
		{"remote-ld", remote("ld"), "", ""},
		{"remote-plain", remote("plain"), "", ""},
		{"remote-cached", remote("plain"), "", ""},
		{"remote-wrong-id", remote("wrong"), "", did.ErrorInvalidDIDDocument},
		{"remote-missing", remote("missing"), "", did.ErrorNotFound},
		{"invalid", "did:web:Example.com", "", did.ErrorInvalidDID},
		{"method", "did:example:123", "", did.ErrorMethodNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.ResolveWithOptions(context.Background(), tc.did, did.ResolveOptions{VersionID: tc.version})
			raw := marshalOutcome(t, res, err)
			var code struct {
				Meta struct{ Error string } `json:"didResolutionMetadata"`
			}
			_ = json.Unmarshal(raw, &code)
			if code.Meta.Error != tc.code {
				t.Fatalf("error %q, want %q: %s", code.Meta.Error, tc.code, raw)
			}
			CheckResult(t, tc.did, raw)
			if res != nil {
				// The bare document in both representations.
				for _, mt := range []string{did.MediaTypeDIDLDJSON, did.MediaTypeDIDJSON} {
					b, err := did.MarshalDocument(res.Document, mt)
					if err != nil {
						t.Fatal(err)
					}
					wrapped, _ := json.Marshal(map[string]any{"@context": did.ContextDIDResolutionV1, "didDocument": json.RawMessage(b),
						"didResolutionMetadata": map[string]string{"contentType": mt}, "didDocumentMetadata": res.DocumentMetadata})
					CheckResult(t, tc.did, wrapped)
				}
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// TestCheckResultCatches checks that CheckResult fails on each broken
// result (so that the conformance suite is not vacuous).
func TestCheckResultCatches(t *testing.T) {
	const id = "did:web:example.com"
	good, _ := confDoc(id, "1").MarshalJSON()
	wrap := func(doc, rmeta, dmeta string) []byte {
		return []byte(`{"@context":"` + did.ContextDIDResolutionV1 + `","didDocument":` + doc +
			`,"didResolutionMetadata":` + rmeta + `,"didDocumentMetadata":` + dmeta + `}`)
	}
	ld := `{"contentType":"application/did+ld+json"}`
	for _, tc := range []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"good", wrap(string(good), ld, `{"versionId":"3","created":"2026-11-25T12:00:00Z"}`), true},
		{"good-error", wrap("null", `{"error":"notFound"}`, `{}`), true},
		{"not-json", []byte(`{`), false},
		{"no-metadata", []byte(`{"@context":"` + did.ContextDIDResolutionV1 + `","didDocument":null,"didResolutionMetadata":{"error":"notFound"}}`), false},
		{"wrong-context", bytes(strings.Replace(string(wrap("null", `{"error":"notFound"}`, `{}`)), "did-resolution/v1", "x", 1)), false},
		{"other-id", wrap(strings.ReplaceAll(string(good), "example.com", "example.org"), ld, `{}`), false},
		{"no-content-type", wrap(string(good), `{}`, `{}`), false},
		{"unsupported-content-type", wrap(string(good), `{"contentType":"application/json"}`, `{}`), false},
		{"json-with-context", wrap(string(good), `{"contentType":"application/did+json"}`, `{}`), false},
		{"dangling-reference", wrap(strings.Replace(string(good), `"authentication":["`+id+`#key-1"]`, `"authentication":["`+id+`#key-9"]`, 1), ld, `{}`), false},
		{"unregistered-error", wrap("null", `{"error":"oops"}`, `{}`), false},
		{"error-with-document", wrap(string(good), `{"error":"notFound"}`, `{}`), false},
		{"error-with-content-type", wrap("null", `{"error":"notFound","contentType":"application/did+ld+json"}`, `{}`), false},
		{"bad-time", wrap(string(good), ld, `{"created":"2026-11-25 12:00"}`), false},
		{"local-time", wrap(string(good), ld, `{"updated":"2026-11-25T12:00:00+01:00"}`), false},
		{"deactivated-string", wrap("null", `{"error":"deactivated"}`, `{"deactivated":"true"}`), false},
		{"version-number", wrap(string(good), ld, `{"versionId":3}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				CheckResult(rec, id, tc.raw)
			}()
			<-done
			if rec.failed == tc.ok {
				t.Errorf("CheckResult failed = %v, want %v", rec.failed, !tc.ok)
			}
		})
	}
}

func bytes(s string) []byte { return []byte(s) }
