package registry

import (
	"hash/maphash"
	"sync"
)

// maxCached bounds the cache; when full it is emptied (hosted DIDs and
// agents are few next to this, so that is rare and cheap).
const maxCached = 1 << 17

const cacheShards = 256

// cache holds the current (committed) view of hot lookups: the current
// resolution of hosted DIDs ("w"+DID) and agent bindings ("a"+DID). Only
// things that exist are cached, so that lookups of random names cannot fill
// it.
//
// Invalidation: a change drops its keys in Apply and again in Committed
// (see Registry.Committed). A reader fills the cache in three steps: read
// the generation of the key's shard, read the store, store the value only
// if the generation did not move. Every invalidation moves it, so a fill
// that read the store before a change was committed never lands after that
// change's Committed.
//
// mu guards m and gen.
type cache struct {
	mu   sync.RWMutex
	m    map[string]any
	gen  [cacheShards]uint64
	seed maphash.Seed
}

func (c *cache) init() {
	c.m = map[string]any{}
	c.seed = maphash.MakeSeed()
}

func (c *cache) shard(k string) int { return int(maphash.String(c.seed, k) % cacheShards) }

// get returns the cached value of k, or, on a miss, the generation to hand
// to put.
func (c *cache) get(k string) (v any, gen uint64, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := c.m[k]; ok {
		return v, 0, true
	}
	return nil, c.gen[c.shard(k)], false
}

// put caches v for k if k was not invalidated since get returned gen.
func (c *cache) put(k string, v any, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[c.shard(k)] != gen {
		return
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[k] = v
}

func (c *cache) invalidate(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	c.gen[c.shard(k)]++
}

func hostedCacheKey(d string) string { return "w" + d }
func agentCacheKey(d string) string  { return "a" + d }
