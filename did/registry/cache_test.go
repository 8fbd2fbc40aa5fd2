package registry

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency/store"
)

// TestCommittedClearsRefill reproduces the window that Committed closes: a
// reader that misses the cache after Apply ran but before the batch is
// committed reads the old state and caches it. The reader here runs inside
// the Apply (after the real one), which is exactly that window.
func TestCommittedClearsRefill(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	a := e.agent(o, RoleIdentity, "work")
	if got, err := e.reg.Agent(a); err != nil || got.Revoked {
		t.Fatalf("Agent = %+v, %v", got, err)
	}
	op, err := e.reg.UnbindAgent(e.req(o), a)
	if err != nil {
		t.Fatal(err)
	}
	apply := op.Apply
	op.Apply = func(tx *store.Tx) error {
		if err := apply(tx); err != nil {
			return err
		}
		_, err := e.reg.Agent(a) // refills from the committed, old state
		return err
	}
	if _, err := e.log.Append(context.Background(), op.Entry, op.Apply); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.reg.Agent(a); got.Revoked {
		t.Fatal("no stale entry before Committed: the test does not reproduce the window")
	}
	e.reg.Committed(op)
	if got, _ := e.reg.Agent(a); !got.Revoked {
		t.Fatal("stale binding after Committed")
	}

	// The same for a hosted DID's resolution.
	k1, k2 := newKey(t), newKey(t)
	hop, err := e.reg.CreateHosted(e.req(k1), "agents/bot")
	e.must(hop, err)
	d := hop.DID
	if _, err := e.reg.ResolveHosted(context.Background(), d, ""); err != nil {
		t.Fatal(err)
	}
	rot, err := e.reg.RotateHosted(e.reqKID(d, d+"#key-1"), d, k2)
	if err != nil {
		t.Fatal(err)
	}
	apply = rot.Apply
	rot.Apply = func(tx *store.Tx) error {
		if err := apply(tx); err != nil {
			return err
		}
		_, err := e.reg.ResolveHosted(context.Background(), d, "")
		return err
	}
	if _, err := e.log.Append(context.Background(), rot.Entry, rot.Apply); err != nil {
		t.Fatal(err)
	}
	e.reg.Committed(rot)
	res, err := e.reg.ResolveHosted(context.Background(), d, "")
	if err != nil || res.Document.VerificationMethod[0].PublicKeyMultibase != strings.TrimPrefix(k2, "did:key:") {
		t.Fatalf("stale resolution after Committed: %+v %v", res, err)
	}
}

// TestCacheGeneration: a fill that read the store before an invalidation
// never lands after it.
func TestCacheGeneration(t *testing.T) {
	var c cache
	c.init()
	for _, tc := range []struct {
		name       string
		invalidate bool
		want       bool
	}{
		{"no change in between", false, true},
		{"invalidated in between", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clear(c.m)
			_, gen, ok := c.get("k")
			if ok {
				t.Fatal("hit on an empty cache")
			}
			if tc.invalidate {
				c.invalidate("k")
			}
			c.put("k", 1, gen)
			if _, _, ok := c.get("k"); ok != tc.want {
				t.Fatalf("cached = %v, want %v", ok, tc.want)
			}
		})
	}
}

// TestCacheBounded: the cache empties itself when full instead of growing.
func TestCacheBounded(t *testing.T) {
	var c cache
	c.init()
	for i := range maxCached + 10 {
		k := string(rune(i))
		_, gen, _ := c.get(k)
		c.put(k, i, gen)
	}
	if n := len(c.m); n > maxCached {
		t.Fatalf("%d entries", n)
	}
}

// BenchmarkResolveHosted measures resolutions of current hosted versions,
// served from the cache, in parallel.
func BenchmarkResolveHosted(b *testing.B) {
	e := newEnv(b)
	var dids []string
	for i := range 64 {
		op, err := e.reg.CreateHosted(e.req(newKey(b)), "agents/bot"+strconv.Itoa(i))
		e.must(op, err)
		dids = append(dids, op.DID)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := e.reg.ResolveHosted(ctx, dids[i%len(dids)], ""); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
