package request

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrReplayed is returned by a ReplayCache for a key it already holds.
var ErrReplayed = errors.New("already used")

// ReplayCache remembers the jti values of accepted requests.
//
// Contract: Use atomically checks and records key. It returns ErrReplayed
// if key was recorded by an earlier Use whose until is not before now, and
// otherwise records key until (at least) until and returns nil. Any other
// error means the cache could not decide; the verifier then refuses the
// request (fail closed). Implementations must be safe for concurrent use.
type ReplayCache interface {
	Use(ctx context.Context, key string, until, now time.Time) error
}

// MemoryReplayCache is a bounded in-memory ReplayCache for one server
// process. When it holds max unexpired entries it refuses new ones (fail
// closed) rather than forget one that could still be replayed.
//
// It keeps a 64-bit fingerprint of each key (maphash with a seed of its
// own, so that nobody outside the process can aim at a collision) and the
// key's until: about 40 bytes an entry. Two keys
// with the same fingerprint only make the later one look replayed, which
// refuses a fresh request and never admits a replay. Keys are spread over
// shards by fingerprint, each with its own lock, and expire through a
// wheel of one-second buckets: a sweep of one second touches only the
// keys recorded until that second, so Use costs O(1) amortized however
// many keys are held.
type MemoryReplayCache struct {
	max  int64
	seed maphash.Seed
	n    atomic.Int64 // keys held, over all shards

	// swept is the last whole second (Unix) whose bucket every shard has
	// swept; sweepMu lets one goroutine at a time advance it.
	swept   atomic.Int64
	sweepMu sync.Mutex

	shards [replayShards]replayShard
}

const (
	replayShards = 16
	// wheelSize is the span of the wheel in seconds, a power of two. A key
	// recorded further ahead than that waits in the last bucket and is put
	// back when that bucket is swept.
	wheelSize = 1024
)

type replayShard struct {
	mu sync.Mutex
	// seen maps a fingerprint to its until, in Unix nanoseconds.
	seen map[uint64]int64
	// wheel[s%wheelSize] holds the fingerprints to look at when second s
	// has passed: those whose until is at most s (or, for the last bucket,
	// later).
	wheel [wheelSize][]uint64
	_     [64]byte // keep the locks of neighbouring shards on their own cache lines
}

// NewMemoryReplayCache returns a cache holding at most max entries.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max < 1 {
		max = 1
	}
	c := &MemoryReplayCache{max: int64(max), seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].seen = map[uint64]int64{}
	}
	c.swept.Store(-1 << 62)
	return c
}

// Use implements ReplayCache.
func (c *MemoryReplayCache) Use(_ context.Context, key string, until, now time.Time) error {
	nowS, nowN := now.Unix(), unixNano(now)
	c.sweep(nowS, nowN)
	u, uS := unixNano(until), until.Unix()
	if until.Nanosecond() > 0 {
		uS++
	}
	h := maphash.String(c.seed, key)
	sh := &c.shards[h>>(64-4)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old, held := sh.seen[h]
	if held && old >= nowN {
		return ErrReplayed
	}
	if !held {
		if c.n.Add(1) > c.max {
			c.n.Add(-1)
			return fmt.Errorf("replay cache full (%d entries)", c.max)
		}
	}
	sh.seen[h] = u
	b := max(min(uS, nowS+wheelSize-1), c.swept.Load()+1)
	sh.wheel[slot(b)] = append(sh.wheel[slot(b)], h)
	return nil
}

// sweep forgets the keys whose until is before now (nowS in Unix seconds,
// nowN in nanoseconds), bucket by bucket, from the last second swept on to
// the one before nowS. At most one goroutine sweeps; the others go on
// (what they miss is swept by the next Use).
func (c *MemoryReplayCache) sweep(nowS, nowN int64) {
	last := nowS - 1
	from := c.swept.Load() + 1
	if from > last || !c.sweepMu.TryLock() {
		return
	}
	defer c.sweepMu.Unlock()
	from = max(c.swept.Load()+1, last-wheelSize+1)
	for s := from; s <= last; s++ {
		for i := range c.shards {
			c.shards[i].sweepSecond(c, s, nowS, nowN)
		}
		c.swept.Store(s)
	}
}

// sweepSecond empties the bucket of second s: keys that expired before
// now are forgotten, the others go back into the bucket of their own
// second (or the farthest the wheel reaches).
func (sh *replayShard) sweepSecond(c *MemoryReplayCache, s, nowS, nowN int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.wheel[slot(s)]
	if len(b) == 0 {
		return
	}
	sh.wheel[slot(s)] = nil
	for _, h := range b {
		u, ok := sh.seen[h]
		switch {
		case !ok:
			// Already forgotten through another bucket.
		case u < nowN:
			delete(sh.seen, h)
			c.n.Add(-1)
		default:
			nb := min(ceilSeconds(u), nowS+wheelSize-1)
			sh.wheel[slot(nb)] = append(sh.wheel[slot(nb)], h)
		}
	}
}

// Len returns the number of keys held (expired ones included until a
// sweep forgets them).
func (c *MemoryReplayCache) Len() int {
	return int(c.n.Load())
}

// unixNano is t.UnixNano, saturated outside the years 1678 to 2262 where
// UnixNano is undefined.
func unixNano(t time.Time) int64 {
	switch {
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	case t.Unix() <= math.MinInt64/int64(time.Second):
		return math.MinInt64
	}
	return t.UnixNano()
}

// ceilSeconds is n nanoseconds rounded up to the second.
func ceilSeconds(n int64) int64 {
	s := n / int64(time.Second)
	if n%int64(time.Second) > 0 {
		s++
	}
	return s
}

// slot is the wheel bucket of second s (any sign).
func slot(s int64) int { return int(uint64(s) % wheelSize) }
