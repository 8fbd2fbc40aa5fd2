package server

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"testing"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
)

// TestAnswerCache: a cached did:key answer is byte for byte the answer
// computed afresh, per representation and per DID, and a hosted or
// versioned resolution never goes through the cache.
func TestAnswerCache(t *testing.T) {
	e := newEnv(t, envOptions{})
	other := did.KeyDID(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey))
	for _, ct := range []string{did.MediaTypeDIDLDJSON, did.MediaTypeDIDJSON, did.MediaTypeDIDResolution, ldProfileCT} {
		for _, id := range []string{testKeyDID, other} {
			h := http.Header{"Accept": {ct}}
			first := e.do("GET", identifiersPath(id), h, nil)
			if first.status != 200 || e.server.answers.get(ct, id) == nil {
				t.Fatalf("%s %s: status %d, cached %v", ct, id, first.status, e.server.answers.get(ct, id) != nil)
			}
			if !bytes.Contains(first.body, []byte(`"id":"`+id+`"`)) {
				t.Fatalf("%s %s: answer is not about the DID: %s", ct, id, first.body)
			}
			second := e.do("GET", identifiersPath(id), h, nil)
			if second.status != 200 || !bytes.Equal(first.body, second.body) ||
				second.header.Get("Content-Type") != first.header.Get("Content-Type") ||
				second.header.Get("Cache-Control") != first.header.Get("Cache-Control") {
				t.Fatalf("%s %s: cached answer differs:\n%s\n%s", ct, id, first.body, second.body)
			}
		}
	}
	// A versionId query is never answered from the cache (did:key has no
	// versions: notFound).
	if r := e.do("GET", identifiersPath(testKeyDID)+"?versionId=1", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("versioned did:key: %d %s", r.status, r.body)
	}
}

func TestAnswerCacheBound(t *testing.T) {
	var c answerCache
	for i := range maxAnswers + 10 {
		c.put("ct", fmt.Sprint(i), []byte{1})
	}
	c.mu.RLock()
	n := len(c.m)
	c.mu.RUnlock()
	if n > maxAnswers || n == 0 {
		t.Fatalf("cache holds %d answers, bound %d", n, maxAnswers)
	}
	if c.get("ct", fmt.Sprint(maxAnswers+9)) == nil {
		t.Fatal("the latest answer was not kept")
	}
}

// TestAnswerCacheConcurrent: concurrent hits on one cached answer (run
// under -race) all get the same bytes; writing an answer must never touch
// the shared cached slice.
func TestAnswerCacheConcurrent(t *testing.T) {
	e := newEnv(t, envOptions{})
	want := e.do("GET", identifiersPath(testKeyDID), nil, nil)
	if want.status != 200 {
		t.Fatal(want.status)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				got := e.do("GET", identifiersPath(testKeyDID), nil, nil)
				if got.status != 200 || !bytes.Equal(got.body, want.body) {
					err = fmt.Errorf("answer changed: %d %s", got.status, got.body)
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestHostedAnswerCache: a hosted DID's answer is reused only while its
// version is current: after a rotation the new document is served at
// once, and a deactivated DID is an error, never a cached document.
func TestHostedAnswerCache(t *testing.T) {
	e := newIDEnv(t, 0)
	k1, k2 := newKeyParty(t, "dora-key-1"), newKeyParty(t, "dora-key-2")
	d := "did:web:" + e.host + ":owners:dora"
	e.mustMutate(t, k1, "POST", "/v1/dids", map[string]string{"name": "owners/dora"}, http.StatusCreated,
		transparency.Entry{Type: "did.created", Actor: k1.did, Subject: d, Resource: "*"})
	h := http.Header{"Accept": {did.MediaTypeDIDResolution}}
	path := identifierPath(d, "")
	first := e.do("GET", path, h, nil)
	again := e.do("GET", path, h, nil)
	if first.status != 200 || !bytes.Equal(first.body, again.body) || again.header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("repeated resolution: %d %q\n%s\n%s", again.status, again.header.Get("Cache-Control"), first.body, again.body)
	}
	dora := &idParty{name: "dora", did: d, kid: d + "#key-1", key: k1.key}
	e.mustMutate(t, dora, "POST", "/v1/dids/rotate", map[string]string{"did": d, "key": k2.did}, http.StatusOK,
		transparency.Entry{Type: "did.updated", Actor: d, Subject: d, Resource: "*"})
	rotated := e.do("GET", path, h, nil)
	if rotated.status != 200 || bytes.Equal(rotated.body, first.body) || !bytes.Contains(rotated.body, []byte(d+"#key-2")) {
		t.Fatalf("after rotation the old answer was served: %s", rotated.body)
	}
	dora.kid, dora.key = d+"#key-2", k2.key
	e.mustMutate(t, dora, "POST", "/v1/dids/deactivate", map[string]string{"did": d}, http.StatusOK,
		transparency.Entry{Type: "did.deactivated", Actor: d, Subject: d})
	if r := e.do("GET", path, h, nil); r.status != http.StatusGone {
		t.Fatalf("deactivated DID resolved: %d %s", r.status, r.body)
	}
}
