package request

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
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
type MemoryReplayCache struct {
	max int

	mu sync.Mutex // guards the fields below; held for all of Use
	// seen maps a key to its until.
	seen map[string]time.Time
	// byUntil orders the keys of seen by until, for eviction.
	byUntil untilHeap
}

// NewMemoryReplayCache returns a cache holding at most max entries.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max < 1 {
		max = 1
	}
	return &MemoryReplayCache{max: max, seen: map[string]time.Time{}}
}

// Use implements ReplayCache.
func (c *MemoryReplayCache) Use(_ context.Context, key string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byUntil) > 0 && c.byUntil[0].until.Before(now) {
		e := heap.Pop(&c.byUntil).(entry)
		if u, ok := c.seen[e.key]; ok && u.Equal(e.until) {
			delete(c.seen, e.key)
		}
	}
	if u, ok := c.seen[key]; ok && !u.Before(now) {
		return ErrReplayed
	}
	if len(c.seen) >= c.max {
		return fmt.Errorf("replay cache full (%d entries)", c.max)
	}
	c.seen[key] = until
	heap.Push(&c.byUntil, entry{key, until})
	return nil
}

// Len returns the number of keys held (expired ones included until the
// next Use evicts them).
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type entry struct {
	key   string
	until time.Time
}

type untilHeap []entry

func (h untilHeap) Len() int           { return len(h) }
func (h untilHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h untilHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *untilHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *untilHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
