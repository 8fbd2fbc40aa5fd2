package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// FuzzRequests sends arbitrary methods, targets and bodies to the whole
// handler over a real log: no request may yield a 5xx, and every error is a
// JSON ErrorBody with a documented code.
func FuzzRequests(f *testing.F) {
	for _, s := range []struct{ method, target, body string }{
		{"GET", "/log/v1/entries/0", ""},
		{"GET", "/log/v1/entries/99999999999999999999", ""},
		{"GET", "/log/v1/proof/inclusion?index=1&size=2", ""},
		{"GET", "/log/v1/proof/inclusion?leaf_hash=" + strings.Repeat("0", 64), ""},
		{"GET", "/log/v1/proof/consistency?from=1&to=3", ""},
		{"GET", "/log/v1/receipts/2", ""},
		{"GET", "/log/tile/0/000.p/3", ""},
		{"GET", "/log/tile/entries/000.p/2", ""},
		{"GET", "/log/tile/0/x001/002", ""},
		{"GET", "/log/checkpoint", ""},
		{"HEAD", "/healthz", ""},
		{"POST", "/log/v1/entries", `{"reason":"fuzz"}`},
		{"POST", "/log/v1/entries", `{"reason":"x","request_digest":"sha256:0"}`},
		{"PATCH", "/log/key", ""},
		{"GET", "/log/v1/proof/inclusion?index=%zz", ""},
		{"GET", "/1.0/identifiers/did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", ""},
		{"GET", "/1.0/identifiers/did:web:example.com", ""},
		{"GET", "/1.0/identifiers/not-a-did", ""},
	} {
		f.Add(s.method, s.target, []byte(s.body))
	}
	e := newEnv(f, envOptions{})
	for i := range 3 {
		body, _ := json.Marshal(OperatorNoteRequest{Reason: fmt.Sprint("seed ", i)})
		req := httptest.NewRequest("POST", "/log/v1/entries", bytes.NewReader(body))
		req.Header = e.operatorHeader()
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			f.Fatalf("seed append: %d %s", rec.Code, rec.Body)
		}
	}
	known := map[string]bool{}
	for _, c := range errorCodes {
		known[c] = true
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		req, err := http.NewRequest(method, "http://fuzz.test"+target, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		req.Header = e.operatorHeader()
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		isDID := strings.HasPrefix(req.URL.Path, "/1.0/identifiers/")
		// 501 methodNotSupported is the DID resolution contract's answer
		// to a DID method this server does not resolve: not a fault.
		if rec.Code >= 500 && !(isDID && rec.Code == http.StatusNotImplemented) {
			t.Fatalf("%s %q: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code < 300 {
			if rec.Code == http.StatusCreated {
				rc, err := transparency.ParseReceipt(rec.Body.Bytes())
				if err != nil {
					t.Fatalf("201 without a receipt: %v", err)
				}
				if _, err := transparency.VerifyReceipt(rc, e.verifier); err != nil {
					t.Fatalf("201 with a receipt that does not verify: %v", err)
				}
			}
			return
		}
		if rec.Code >= 300 && rec.Code < 400 {
			// ServeMux redirects unclean paths outside /log/tile/.
			return
		}
		if isDID && rec.Code != http.StatusMethodNotAllowed {
			// The DID resolution endpoint answers errors as DID
			// resolution results, not as the server's error body.
			var rr struct {
				Meta struct {
					Error string `json:"error"`
				} `json:"didResolutionMetadata"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &rr); err != nil || rr.Meta.Error == "" ||
				(rec.Code == http.StatusNotImplemented && rr.Meta.Error != "methodNotSupported") {
				t.Fatalf("%s %q: %d without a resolution error (%v): %s", method, target, rec.Code, err, rec.Body)
			}
			return
		}
		var eb ErrorBody
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&eb); err != nil || !known[eb.Error.Code] || eb.Error.Message == "" {
			t.Fatalf("%s %q: %d with a bad error body (%v): %+v", method, target, rec.Code, err, eb)
		}
	})
}
