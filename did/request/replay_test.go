package request

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryReplayCacheModel drives the cache and an exact model (a map of
// key to until) with the same random operations, the clock moving forward
// in steps from milliseconds to longer than the wheel, and checks every
// answer and the number of keys held after each sweep.
func TestMemoryReplayCacheModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			const maxKeys = 300
			c := NewMemoryReplayCache(maxKeys)
			model := map[string]time.Time{}
			// recorded is the last record of every key: its until and the
			// second it was recorded in, for the expected Len.
			type record struct {
				until time.Time
				at    int64
			}
			recorded := map[string]record{}
			now := t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			for op := range 5000 {
				switch r := rng.IntN(100); {
				case r < 2:
					now = now.Add(time.Duration(wheelSize+rng.IntN(3*wheelSize)) * time.Second)
				case r < 30:
					now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				}
				key := fmt.Sprint("k", rng.IntN(400))
				var until time.Time
				switch r := rng.IntN(10); {
				case r == 0: // far ahead, beyond the wheel
					until = now.Add(time.Duration(wheelSize+rng.IntN(2*wheelSize)) * time.Second)
				case r == 1: // already expired
					until = now.Add(-time.Duration(rng.IntN(5000)) * time.Millisecond)
				default:
					until = now.Add(time.Duration(rng.IntN(120_000)) * time.Millisecond)
				}
				// The model: replayed if held and not expired; else full
				// if max live keys are held; else recorded.
				live := 0
				for k, u := range model {
					if u.Before(now) {
						delete(model, k)
					} else {
						live++
					}
				}
				err := c.Use(context.Background(), key, until, now)
				u, held := model[key]
				switch {
				case held && !u.Before(now):
					if !errors.Is(err, ErrReplayed) {
						t.Fatalf("op %d: %s held until %s, now %s: got %v, want ErrReplayed", op, key, u, now, err)
					}
				case live >= maxKeys:
					if err == nil || errors.Is(err, ErrReplayed) {
						t.Fatalf("op %d: full (%d live): got %v, want a full-cache error", op, live, err)
					}
				default:
					if err != nil {
						t.Fatalf("op %d: fresh key %s: %v", op, key, err)
					}
					model[key] = until
					recorded[key] = record{until, now.Unix()}
				}
				// Every Use sweeps the buckets of the seconds before now's:
				// a key is held at most until the second after both its
				// until and the second it was recorded in.
				want := 0
				for _, r := range recorded {
					if max(ceilSeconds(r.until.UnixNano()), r.at) >= now.Unix() {
						want++
					}
				}
				// It may forget an expired key earlier (a sweep after a
				// jump of the clock visits every bucket), never a live one.
				if n := c.Len(); n > want || n < len(model) {
					t.Fatalf("op %d: Len = %d, want %d live to %d", op, n, len(model), want)
				}
			}
		})
	}
}

// TestMemoryReplayCacheForgets shows that the cache does not grow: keys
// are forgotten one wheel second after their until, however many.
func TestMemoryReplayCacheForgets(t *testing.T) {
	c := NewMemoryReplayCache(1 << 20)
	ctx := context.Background()
	for i := range 100_000 {
		now := t0.Add(time.Duration(i) * time.Millisecond) // 100 s
		if err := c.Use(ctx, fmt.Sprint(i), now.Add(120*time.Second), now); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n != 100_000 {
		t.Fatalf("Len = %d, want 100000", n)
	}
	// At t0+221 s every key (until at most t0+220 s) has expired.
	if err := c.Use(ctx, "late", t0.Add(300*time.Second), t0.Add(221*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("Len = %d after every key expired, want 1", n)
	}
}

// TestMemoryReplayCacheFarUntil: a key recorded until after the wheel's
// span stays replayed through several turns of the wheel.
func TestMemoryReplayCacheFarUntil(t *testing.T) {
	c := NewMemoryReplayCache(10)
	ctx := context.Background()
	until := t0.Add(3 * wheelSize * time.Second)
	if err := c.Use(ctx, "far", until, t0); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{time.Second, wheelSize * time.Second, 2*wheelSize*time.Second + 7*time.Second, 3 * wheelSize * time.Second} {
		if err := c.Use(ctx, "far", until, t0.Add(at)); !errors.Is(err, ErrReplayed) {
			t.Fatalf("at +%s: %v, want ErrReplayed", at, err)
		}
	}
	if err := c.Use(ctx, "far", until.Add(time.Hour), until.Add(time.Nanosecond)); err != nil {
		t.Fatalf("just after until: %v", err)
	}
	// Extreme times neither panic nor admit a replay.
	for _, tm := range []time.Time{time.Unix(-1<<40, 0), time.Unix(1<<40, 0), {}} {
		if err := c.Use(ctx, "extreme", tm, tm); err != nil {
			t.Fatalf("Use at %v: %v", tm, err)
		}
		if err := c.Use(ctx, "extreme", tm, tm); !errors.Is(err, ErrReplayed) {
			t.Fatalf("reuse at %v: %v, want ErrReplayed", tm, err)
		}
		c = NewMemoryReplayCache(10)
	}
}

// TestMemoryReplayCacheConcurrent: of many goroutines using the same keys
// at once, exactly one wins each key.
func TestMemoryReplayCacheConcurrent(t *testing.T) {
	c := NewMemoryReplayCache(1 << 16)
	const keys, workers = 2000, 8
	var wins [keys]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				now := t0.Add(time.Duration(i+w) * time.Millisecond)
				switch err := c.Use(context.Background(), fmt.Sprint(i), now.Add(time.Minute), now); {
				case err == nil:
					wins[i].Add(1)
				case !errors.Is(err, ErrReplayed):
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range wins {
		if n := wins[i].Load(); n != 1 {
			t.Fatalf("key %d won %d times, want 1", i, n)
		}
	}
}

// BenchmarkMemoryReplayCache measures Use with a full working set of a
// million live keys turning over.
func BenchmarkMemoryReplayCache(b *testing.B) {
	c := NewMemoryReplayCache(1 << 22)
	ctx := context.Background()
	var i atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := i.Add(1)
			now := t0.Add(time.Duration(n) * 100 * time.Microsecond) // 10,000/s
			if err := c.Use(ctx, fmt.Sprint(n), now.Add(120*time.Second), now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
