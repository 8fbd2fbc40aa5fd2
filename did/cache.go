package did

import (
	"container/list"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"
)

// Cache keeps successful resolution results so that the Resolver does not
// derive or fetch them again: immutable ones (did:key) until evicted, the
// others (remote did:web) until their TTL has passed. A result with neither
// (hosted did:web, TTL 0) is never kept. Failures are never kept: a remote
// failure is retried at the next resolution (the remote's timeout and size
// bound limit what a retry costs; negative caching would let one transient
// failure hide a DID for its whole duration).
//
// The cache is bounded: beyond max entries it evicts the least recently
// used. It is safe for concurrent use. Results go in and come out as deep
// copies, so neither the caller who stored a result nor one who got it can
// change what the cache holds.
type Cache struct {
	max int
	now func() time.Time

	mu    sync.Mutex               // guards order and items
	order *list.List               // of *cacheItem, most recently used first
	items map[string]*list.Element // by DID
}

type cacheItem struct {
	did     string
	res     *Result   // private copy
	expires time.Time // zero for immutable results
}

// NewCache returns a cache of at most max results (max < 1 means 1) that
// reads the time from now (nil: time.Now).
func NewCache(max int, now func() time.Time) *Cache {
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{max: max, now: now, order: list.New(), items: map[string]*list.Element{}}
}

// Get returns a copy of the cached result for did, or nil. A result with a
// TTL comes back with the TTL that remains. A nil Cache holds nothing.
func (c *Cache) Get(did string) *Result {
	if c == nil {
		return nil
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[did]
	if !ok {
		return nil
	}
	it := el.Value.(*cacheItem)
	if !it.expires.IsZero() && !now.Before(it.expires) {
		c.order.Remove(el)
		delete(c.items, did)
		return nil
	}
	c.order.MoveToFront(el)
	res := cloneResult(it.res)
	if !it.expires.IsZero() {
		res.TTL = it.expires.Sub(now)
	}
	return res
}

// Put stores a copy of res for did if it is cacheable: a success that is
// Immutable or has a TTL > 0. A nil Cache ignores it.
func (c *Cache) Put(did string, res *Result) {
	if c == nil || res == nil || res.Document == nil || res.ResolutionMetadata.Error != "" {
		return
	}
	var expires time.Time
	switch {
	case res.Immutable:
	case res.TTL > 0:
		expires = c.now().Add(res.TTL)
	default:
		return
	}
	it := &cacheItem{did: did, res: cloneResult(res), expires: expires}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[did]; ok {
		el.Value = it
		c.order.MoveToFront(el)
		return
	}
	c.items[did] = c.order.PushFront(it)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheItem).did)
	}
}

// Len returns the number of results held (expired ones included until
// they are looked up or evicted).
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// cloneResult deep-copies a result: every slice, map and raw JSON value of
// its document.
func cloneResult(r *Result) *Result {
	out := *r
	if r.Document != nil {
		d := *r.Document
		d.Context = slices.Clone(d.Context)
		d.Controller = slices.Clone(d.Controller)
		d.Authentication = slices.Clone(d.Authentication)
		d.AssertionMethod = slices.Clone(d.AssertionMethod)
		d.CapabilityDelegation = slices.Clone(d.CapabilityDelegation)
		d.CapabilityInvocation = slices.Clone(d.CapabilityInvocation)
		d.Extensions = cloneRaw(d.Extensions)
		d.VerificationMethod = slices.Clone(d.VerificationMethod)
		for i := range d.VerificationMethod {
			vm := &d.VerificationMethod[i]
			if vm.PublicKeyJwk != nil {
				jwk := *vm.PublicKeyJwk
				vm.PublicKeyJwk = &jwk
			}
			vm.Extensions = cloneRaw(vm.Extensions)
		}
		out.Document = &d
	}
	return &out
}

func cloneRaw(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}
