package server

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency/store"
)

// Signed requests (spec/signed-requests.md): every mutating request, and
// every read that is not public, carries "Authorization: ClawNet-JWS <jws>"
// signed by the caller's DID key. did/request verifies it; this file picks
// the HTTP statuses and makes the single use of a jti survive restarts.
//
// Replay protection has two layers:
//   - an in-memory cache (request.MemoryReplayCache) refuses any (DID, jti)
//     seen by this process, for reads and writes alike;
//   - a request that changes state records its (DID, jti) under "s/jti/"
//     in the same log transaction as the change (recordJTI), and
//     authenticate looks there too, so a restart cannot reopen the window
//     for a request that took effect. A request that changed nothing is not
//     worth persisting: replaying it can only do what it would have done
//     the first time.
//
// The store is read only for a token that a previous process could have
// recorded: records are keyed by their until second, so every record
// written before this process started has an until at most that of the
// greatest record then (recordedUntil). A token whose own until is later
// can only have been used by this process, and the memory cache, which
// holds every jti this process accepted until it expires, is then the
// whole answer. Shortly after a start that is every fresh token, and the
// common request costs no store read (two before: one here, one in the
// change's transaction).
//
// Records expire at exp + skew, when the verifier refuses the token for its
// time anyway; sweepJTI deletes them.

// jtiPrefix is the store prefix of durable jti records. The key is the
// prefix, the big-endian Unix second until which the record matters, and
// the first 16 bytes of SHA-256(DID " " jti): ordered by expiry, so that a
// sweep is one range scan, and found without knowing anything but what
// the token says.
const jtiPrefix = "s/jti/"

// jtiEnd is the end of the jtiPrefix range: its last byte plus one.
const jtiEnd = "s/jti0"

// maxReplayEntries bounds the in-memory replay cache (about 45 bytes an
// entry, 190 MB when full): with requests of the default 60 s lifetime
// plus the 60 s skew this admits ~35,000 signed requests per second, at
// the 300 s maximum lifetime ~11,600, before the cache fills and the
// server fails closed (replay_cache_unavailable).
const maxReplayEntries = 1 << 22

func jtiKey(key string, until time.Time) []byte {
	sum := sha256.Sum256([]byte(key))
	k := make([]byte, 0, len(jtiPrefix)+8+16)
	k = append(k, jtiPrefix...)
	k = binary.BigEndian.AppendUint64(k, uint64(until.Unix()))
	return append(k, sum[:16]...)
}

// signedAuth verifies signed requests for the server.
type signedAuth struct {
	verifier *request.Verifier
	skew     time.Duration
	db       *store.DB // nil: memory only (tests of the read path)
	// recordedUntil is the until second (Unix) of the greatest jti record
	// in the store when this process started; only a token whose until is
	// not later may have a record this process did not write.
	recordedUntil int64
}

func newSignedAuth(audience string, resolve request.ResolveFunc, db *store.DB, now func() time.Time) (*signedAuth, error) {
	v, err := request.NewVerifier(request.Config{
		Audience: audience,
		Resolve:  resolve,
		Now:      now,
		Skew:     request.DefaultSkew,
		// Memory holds a 64-bit fingerprint of each key, not the key.
		Replay: request.NewMemoryReplayCache(maxReplayEntries),
	})
	if err != nil {
		return nil, err
	}
	a := &signedAuth{verifier: v, skew: request.DefaultSkew, db: db, recordedUntil: math.MinInt64}
	if db != nil {
		last, err := db.Last([]byte(jtiPrefix), []byte(jtiEnd))
		if err != nil {
			return nil, fmt.Errorf("replay records: %w", err)
		}
		if last != nil {
			if len(last) < len(jtiPrefix)+8 {
				return nil, fmt.Errorf("replay records: malformed key %q", last)
			}
			a.recordedUntil = int64(binary.BigEndian.Uint64(last[len(jtiPrefix):]))
		}
	}
	return a, nil
}

// mayBeRecorded reports whether v's jti could have been recorded by an
// earlier process, which only the store knows.
func (a *signedAuth) mayBeRecorded(v *request.Verified) bool {
	return a.db != nil && a.until(v).Unix() <= a.recordedUntil
}

// until is the time until which v's jti matters: exp + skew.
func (a *signedAuth) until(v *request.Verified) time.Time {
	return time.Unix(v.Claims.Expires, 0).Add(a.skew)
}

// jtiRecord is the durable record of one verified request's jti.
func (a *signedAuth) jtiRecord(v *request.Verified) []byte {
	return jtiKey(v.DID+" "+v.Claims.ID, a.until(v))
}

// recordJTI is called inside the Apply of the state change that v causes:
// it refuses the change if the jti was already recorded (belt and braces:
// the verifier checked the committed records, and this sees the batch in
// flight too), and records it with the change.
func (a *signedAuth) recordJTI(tx *store.Tx, v *request.Verified) error {
	k := a.jtiRecord(v)
	if a.mayBeRecorded(v) {
		switch _, err := tx.Get(k); {
		case err == nil:
			return &apiError{http.StatusUnauthorized, string(request.CodeReplayed), "this request was already used", nil}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	tx.Set(k, []byte{1})
	return nil
}

// sweepJTI deletes the records that expired before now, at most max of
// them per call (0: no bound), and returns how many it deleted.
func (a *signedAuth) sweepJTI(now time.Time, max int) (int, error) {
	if a.db == nil {
		return 0, nil
	}
	end := binary.BigEndian.AppendUint64([]byte(jtiPrefix), uint64(now.Unix()))
	b := a.db.NewBatch()
	n := 0
	err := a.db.Scan([]byte(jtiPrefix), end, func(k, _ []byte) (bool, error) {
		b.Delete(k)
		n++
		return max == 0 || n < max, nil
	})
	if err != nil || n == 0 {
		b.Discard()
		return 0, err
	}
	if err := b.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// requestStatus is the HTTP status of each refusal of a signed request:
// 400 for a request that is malformed whoever sends it, 401 when the
// caller failed to authenticate (RFC 9110 §15.5.2; WWW-Authenticate says
// why), 410 for a deactivated DID, 503 when the server cannot decide.
var requestStatus = map[request.Code]int{
	request.CodeHeaderMissing:          http.StatusUnauthorized,
	request.CodeHeaderMalformed:        http.StatusBadRequest,
	request.CodeJWSMalformed:           http.StatusBadRequest,
	request.CodeAlgNotAllowed:          http.StatusBadRequest,
	request.CodeJOSEHeaderNotAllowed:   http.StatusBadRequest,
	request.CodeKIDMissing:             http.StatusBadRequest,
	request.CodeKIDInvalid:             http.StatusBadRequest,
	request.CodeDIDMethodNotSupported:  http.StatusBadRequest,
	request.CodeDIDResolutionFailed:    http.StatusUnauthorized,
	request.CodeDIDDeactivated:         http.StatusGone,
	request.CodeKeyNotFound:            http.StatusUnauthorized,
	request.CodeKeyNotAuthorized:       http.StatusUnauthorized,
	request.CodeKeyTypeUnsupported:     http.StatusBadRequest,
	request.CodeSignatureInvalid:       http.StatusUnauthorized,
	request.CodeWrongType:              http.StatusBadRequest,
	request.CodeClaimsMalformed:        http.StatusBadRequest,
	request.CodeWrongAudience:          http.StatusUnauthorized,
	request.CodeWrongMethod:            http.StatusUnauthorized,
	request.CodeWrongPath:              http.StatusUnauthorized,
	request.CodeBodyMismatch:           http.StatusUnauthorized,
	request.CodeLifetimeTooLong:        http.StatusBadRequest,
	request.CodeExpired:                http.StatusUnauthorized,
	request.CodeNotYetValid:            http.StatusUnauthorized,
	request.CodeReplayed:               http.StatusUnauthorized,
	request.CodeReplayCacheUnavailable: http.StatusServiceUnavailable,
}

// requestMessages are what the client is told for each refusal: the
// verifier's own error text may hold resolver or cache details.
var requestMessages = map[request.Code]string{
	request.CodeHeaderMissing:          "this request must be signed: Authorization: ClawNet-JWS <jws> (spec/signed-requests.md)",
	request.CodeHeaderMalformed:        "the Authorization header is not one ClawNet-JWS compact JWS",
	request.CodeJWSMalformed:           "the JWS protected header is not a JSON object with unique members",
	request.CodeAlgNotAllowed:          "the JWS alg must be EdDSA",
	request.CodeJOSEHeaderNotAllowed:   "the JWS protected header may hold only alg, typ and kid",
	request.CodeKIDMissing:             "the JWS has no kid",
	request.CodeKIDInvalid:             "the kid is not a DID URL with a fragment",
	request.CodeDIDMethodNotSupported:  "the signer's DID method is not supported by this server",
	request.CodeDIDResolutionFailed:    "the signer's DID could not be resolved",
	request.CodeDIDDeactivated:         "the signer's DID is deactivated",
	request.CodeKeyNotFound:            "the signer's DID document has no verification method kid",
	request.CodeKeyNotAuthorized:       "the kid is not in the authentication relationship of the signer's DID document",
	request.CodeKeyTypeUnsupported:     "the kid is not an Ed25519 key",
	request.CodeSignatureInvalid:       "the request signature does not verify",
	request.CodeWrongType:              "the JWS typ must be clawnet-request+jwt",
	request.CodeClaimsMalformed:        "the JWS payload is not exactly the claim set aud, htm, htu, bd, iat, exp, jti",
	request.CodeWrongAudience:          "aud is not this server's origin",
	request.CodeWrongMethod:            "htm is not this request's method",
	request.CodeWrongPath:              "htu is not this request's path and query",
	request.CodeBodyMismatch:           "bd is not the SHA-256 of this request's body",
	request.CodeLifetimeTooLong:        "exp - iat exceeds 300 seconds",
	request.CodeExpired:                "the request has expired (check the client's clock)",
	request.CodeNotYetValid:            "the request is issued in the future (check the client's clock)",
	request.CodeReplayed:               "this request was already used; sign a new one with a fresh jti",
	request.CodeReplayCacheUnavailable: "the server cannot check for replays right now; retry with a new jti",
}

// authenticate verifies the signed request r whose body has been read. It
// returns an *apiError for every refusal.
func (a *signedAuth) authenticate(w http.ResponseWriter, r *http.Request, body []byte) (*request.Verified, error) {
	v, err := a.verifier.Verify(r.Context(), r, body)
	if err == nil && a.mayBeRecorded(v) {
		switch _, gerr := a.db.Get(a.jtiRecord(v)); {
		case gerr == nil:
			err = &request.Error{Code: request.CodeReplayed, Err: errors.New("recorded before this process started")}
		case !errors.Is(gerr, store.ErrNotFound):
			err = &request.Error{Code: request.CodeReplayCacheUnavailable, Err: fmt.Errorf("replay records: %w", gerr)}
		}
	}
	if err == nil {
		return v, nil
	}
	code := request.CodeOf(err)
	status, ok := requestStatus[code]
	if !ok {
		return nil, fmt.Errorf("verify signed request: %w", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s error=%q`, request.Scheme, code))
	}
	return nil, &apiError{status, string(code), requestMessages[code], err}
}

// SweepReplayRecords deletes the jti records of signed requests that
// expired before now (clawnet serve calls it every minute) and returns how
// many it deleted. Without the identity API it does nothing.
func (s *Server) SweepReplayRecords(now time.Time) (int, error) {
	if s.auth == nil {
		return 0, nil
	}
	return s.auth.sweepJTI(now, 100_000)
}
