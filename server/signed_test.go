package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency/store"
)

const signedAudience = "http://ledger.test"

func signedKey(seed byte) (ed25519.PrivateKey, string) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	d := did.KeyDID(priv.Public().(ed25519.PublicKey))
	return priv, d + "#" + strings.TrimPrefix(d, "did:key:")
}

// signedRequest builds a POST signed at now by the key of seed.
func signedRequest(t *testing.T, seed byte, now time.Time, body string) *http.Request {
	t.Helper()
	priv, kid := signedKey(seed)
	r := httptest.NewRequest(http.MethodPost, "/v1/owners", strings.NewReader(body))
	s := &request.Signer{Key: priv, KID: kid, Audience: signedAudience, Now: func() time.Time { return now }}
	if err := s.SignRequest(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func openTestStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// commitJTI does what a state change's Apply does: record v's jti in the
// same transaction.
func commitJTI(t *testing.T, db *store.DB, a *signedAuth, v *request.Verified) error {
	t.Helper()
	tx := store.NewTx(db, nil, 0)
	if err := a.recordJTI(tx, v); err != nil {
		return err
	}
	b := db.NewBatch()
	if err := tx.Apply(b, map[string][]byte{}); err != nil {
		t.Fatal(err)
	}
	return b.Commit()
}

func authCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return ""
}

// TestSignedReplayAcrossRestart shows the two layers of replay protection:
// in one process every replay is refused; after a restart (a new
// signedAuth over the same database, with an empty memory) a request that
// changed state is still refused, one that did not is accepted once more.
func TestSignedReplayAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	db := openTestStore(t, dir)
	defer db.Close()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	body := `{}`
	changed := signedRequest(t, 1, now, body)
	readOnly := signedRequest(t, 2, now, body)

	a, err := newSignedAuth(signedAudience, request.ResolveKeyDID, db, clock)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	v, err := a.authenticate(w, changed, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := commitJTI(t, db, a, v); err != nil {
		t.Fatal(err)
	}
	if _, err := a.authenticate(w, readOnly, []byte(body)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{changed, readOnly} {
		if _, err := a.authenticate(httptest.NewRecorder(), r, []byte(body)); authCode(err) != string(request.CodeReplayed) {
			t.Fatalf("replay in the same process: %v, want %s", err, request.CodeReplayed)
		}
	}

	restarted, err := newSignedAuth(signedAudience, request.ResolveKeyDID, db, clock)
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	_, err = restarted.authenticate(w, changed, []byte(body))
	if authCode(err) != string(request.CodeReplayed) {
		t.Fatalf("replay of a request that took effect, after a restart: %v, want %s", err, request.CodeReplayed)
	}
	if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="request_replayed"`) {
		t.Fatalf("WWW-Authenticate %q", got)
	}
	if _, err := restarted.authenticate(httptest.NewRecorder(), readOnly, []byte(body)); err != nil {
		t.Fatalf("a request that changed nothing is remembered in memory only: %v", err)
	}
	// The Apply-side check refuses a second record of the same jti even
	// if the verifier were bypassed.
	if err := commitJTI(t, db, restarted, v); authCode(err) != string(request.CodeReplayed) {
		t.Fatalf("second record of a jti: %v", err)
	}
}

// TestSignedReplayStoreReads: the store is read only for tokens that an
// earlier process could have recorded (until not after the greatest record
// at start); every such token is refused if recorded, whatever its place
// among the records, and a token of this process is refused from memory.
func TestSignedReplayStoreReads(t *testing.T) {
	db := openTestStore(t, t.TempDir())
	defer db.Close()
	now := time.Unix(1_800_000_000, 0)
	at := now
	clock := func() time.Time { return at }
	a, err := newSignedAuth(signedAudience, request.ResolveKeyDID, db, clock)
	if err != nil {
		t.Fatal(err)
	}
	// Two requests that took effect, 30 s apart (so their untils differ).
	var reqs []*http.Request
	var vs []*request.Verified
	for i, iat := range []time.Time{now, now.Add(30 * time.Second)} {
		at = iat
		r := signedRequest(t, byte(20+i), iat, `{}`)
		v, err := a.authenticate(httptest.NewRecorder(), r, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if a.mayBeRecorded(v) {
			t.Fatalf("a first process reads the store for its own token %d", i)
		}
		if err := commitJTI(t, db, a, v); err != nil {
			t.Fatal(err)
		}
		reqs, vs = append(reqs, r), append(vs, v)
	}
	restarted, err := newSignedAuth(signedAudience, request.ResolveKeyDID, db, clock)
	if err != nil {
		t.Fatal(err)
	}
	if want := restarted.until(vs[1]).Unix(); restarted.recordedUntil != want {
		t.Fatalf("recordedUntil = %d, want %d (the greatest record's)", restarted.recordedUntil, want)
	}
	for i, r := range reqs {
		if !restarted.mayBeRecorded(vs[i]) {
			t.Fatalf("token %d, recorded before the restart, is not looked up", i)
		}
		if _, err := restarted.authenticate(httptest.NewRecorder(), r, []byte(`{}`)); authCode(err) != string(request.CodeReplayed) {
			t.Fatalf("token %d after the restart: %v, want %s", i, err, request.CodeReplayed)
		}
	}
	// A token issued after the restart (until later than every record)
	// is not looked up, and its replay is refused by memory.
	at = now.Add(90 * time.Second)
	fresh := signedRequest(t, 30, at, `{}`)
	v, err := restarted.authenticate(httptest.NewRecorder(), fresh, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if restarted.mayBeRecorded(v) {
		t.Fatal("a token of this process is looked up in the store")
	}
	if err := commitJTI(t, db, restarted, v); err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.authenticate(httptest.NewRecorder(), fresh, []byte(`{}`)); authCode(err) != string(request.CodeReplayed) {
		t.Fatalf("replay in the same process: %v, want %s", err, request.CodeReplayed)
	}
}

func TestSweepJTI(t *testing.T) {
	db := openTestStore(t, t.TempDir())
	defer db.Close()
	now := time.Unix(1_800_000_000, 0)
	a, err := newSignedAuth(signedAudience, request.ResolveKeyDID, db, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	var vs []*request.Verified
	for i, at := range []time.Time{now, now.Add(10 * time.Minute)} {
		r := signedRequest(t, byte(10+i), at, `{}`)
		a.verifier = mustVerifier(t, at)
		v, err := a.authenticate(httptest.NewRecorder(), r, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := commitJTI(t, db, a, v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	// At now + 5 min the first record (exp + skew = now + 2 min) is
	// expired, the second (now + 12 min) is not.
	n, err := a.sweepJTI(now.Add(5*time.Minute), 0)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 record deleted", n, err)
	}
	if _, err := db.Get(a.jtiRecord(vs[0])); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired record still there: %v", err)
	}
	if _, err := db.Get(a.jtiRecord(vs[1])); err != nil {
		t.Fatalf("live record swept: %v", err)
	}
	if n, err := a.sweepJTI(now.Add(5*time.Minute), 0); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
}

func mustVerifier(t *testing.T, now time.Time) *request.Verifier {
	t.Helper()
	v, err := request.NewVerifier(request.Config{
		Audience: signedAudience, Resolve: request.ResolveKeyDID, Now: func() time.Time { return now },
		Replay: request.NewMemoryReplayCache(16),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSignedRefusalStatuses: every refusal code has a status and a
// message, and a few representative refusals come out as specified.
func TestSignedRefusalStatuses(t *testing.T) {
	for _, c := range request.Codes() {
		if requestStatus[c] == 0 || requestMessages[c] == "" {
			t.Errorf("refusal %s has no HTTP status or message", c)
		}
	}
	if len(requestStatus) != len(request.Codes()) || len(requestMessages) != len(request.Codes()) {
		t.Errorf("status or message map has codes that did/request does not define")
	}
	now := time.Unix(1_800_000_000, 0)
	deactivated := func(context.Context, string) (*did.Document, error) {
		return nil, &did.ResolutionError{Code: did.ErrorDeactivated, Message: "deactivated"}
	}
	for _, tc := range []struct {
		name    string
		resolve request.ResolveFunc
		mutate  func(r *http.Request)
		status  int
		code    request.Code
	}{
		{"unsigned", nil, func(r *http.Request) { r.Header.Del("Authorization") }, 401, request.CodeHeaderMissing},
		{"forged", nil, func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := len(h) - 6
			c := byte('A')
			if h[i] == 'A' {
				c = 'B'
			}
			r.Header.Set("Authorization", h[:i]+string(c)+h[i+1:])
		}, 401, request.CodeSignatureInvalid},
		{"other-path", nil, func(r *http.Request) { r.URL.Path = "/v1/agents"; r.RequestURI = "/v1/agents" }, 401, request.CodeWrongPath},
		{"deactivated", deactivated, nil, 410, request.CodeDIDDeactivated},
		{"scheme", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, 401, request.CodeHeaderMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resolve := tc.resolve
			if resolve == nil {
				resolve = request.ResolveKeyDID
			}
			a, err := newSignedAuth(signedAudience, resolve, nil, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			r := signedRequest(t, 3, now, `{}`)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			_, err = a.authenticate(httptest.NewRecorder(), r, []byte(`{}`))
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != tc.status || ae.code != string(tc.code) {
				t.Fatalf("authenticate: %v; want %d %s", err, tc.status, tc.code)
			}
			if strings.Contains(ae.message, "did:key") {
				t.Fatalf("message leaks verifier details: %q", ae.message)
			}
		})
	}
}
