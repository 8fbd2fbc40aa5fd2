package store

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Filter is an in-memory approximate set of the keys under one prefix,
// for a caller that looks up keys that are nearly always absent (a new
// request id, say): a store read of an absent key searches the memtables
// and, once they have been flushed, the index and filter blocks of every
// level, which under a write load are seldom cached. Filter answers most
// such lookups from memory.
//
// MayContain never says no for a key that is in the database: it says yes
// until Load has read every key under the prefix, and afterwards for every
// key that Load read or that was passed to Add (from the moment Add
// returns), and for about 1 in 200 other keys. The caller must Add every
// key it writes under the prefix, at the latest when the write becomes
// visible to its own lookups (before a sequencer Apply that sets it
// returns, say); a key added but never written only costs a store read.
// Keys are never removed (a deleted key stays a "maybe").
//
// It is a split-block Bloom filter (256-bit blocks, 8 bits a key, one in
// each 32-bit word) in layers: a full layer is kept and a new one twice
// its size takes the new keys, so memory grows with the keys at about 1.5
// bytes a key (a million keys ≈ 1.5 MiB) and nothing is rehashed. The
// hash seed is random per process, so nobody can aim keys at one block.
//
// A Filter is safe for concurrent use.
type Filter struct {
	prefix []byte
	seed   maphash.Seed
	loaded atomic.Bool

	mu     sync.Mutex
	layers []*filterLayer // the last one takes new keys
}

// filterLayer is one split-block Bloom filter of a fixed size.
type filterLayer struct {
	blocks [][8]uint32
	n, max int // keys added, keys it takes before the next layer starts
}

const (
	// filterFirstBlocks is the first layer's size in 32-byte blocks
	// (256 KiB, ≈ 170,000 keys).
	filterFirstBlocks = 1 << 13
	// filterBitsPerKey sizes a layer's capacity: 12 bits a key keeps the
	// false-positive rate of a full layer near 0.4 %.
	filterBitsPerKey = 12
)

// filterSalt spreads a key's 32-bit hash over the 8 words of its block
// (the constants of the Parquet split-block Bloom filter).
var filterSalt = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

// NewFilter returns an empty filter of the keys under prefix; it answers
// "maybe" to everything until Load has run.
func NewFilter(prefix []byte) *Filter {
	return &Filter{prefix: bytes.Clone(prefix), seed: maphash.MakeSeed()}
}

// Loaded reports whether Load has completed.
func (f *Filter) Loaded() bool { return f.loaded.Load() }

// Add records key. A key outside the prefix is ignored.
func (f *Filter) Add(key []byte) {
	if !bytes.HasPrefix(key, f.prefix) {
		return
	}
	h := maphash.Bytes(f.seed, key)
	f.mu.Lock()
	f.add(h)
	f.mu.Unlock()
}

// add records hash h; f.mu is held.
func (f *Filter) add(h uint64) {
	var l *filterLayer
	if n := len(f.layers); n > 0 && f.layers[n-1].n < f.layers[n-1].max {
		l = f.layers[n-1]
	} else {
		size := filterFirstBlocks
		if n > 0 {
			size = 2 * len(f.layers[n-1].blocks)
		}
		l = &filterLayer{blocks: make([][8]uint32, size), max: size * 256 / filterBitsPerKey}
		f.layers = append(f.layers, l)
	}
	b := &l.blocks[blockOf(h, len(l.blocks))]
	x := uint32(h)
	for i := range b {
		b[i] |= 1 << ((x * filterSalt[i]) >> 27)
	}
	l.n++
}

// MayContain reports whether key may be in the database: false only if it
// is certainly not (see Filter).
func (f *Filter) MayContain(key []byte) bool {
	if !f.loaded.Load() || !bytes.HasPrefix(key, f.prefix) {
		return true
	}
	h := maphash.Bytes(f.seed, key)
	x := uint32(h)
	f.mu.Lock()
	defer f.mu.Unlock()
layers:
	for _, l := range f.layers {
		b := &l.blocks[blockOf(h, len(l.blocks))]
		for i := range b {
			if b[i]&(1<<((x*filterSalt[i])>>27)) == 0 {
				continue layers
			}
		}
		return true
	}
	return false
}

// blockOf maps the high half of h onto [0, n) (n < 2^32).
func blockOf(h uint64, n int) int { return int((h >> 32) * uint64(n) >> 32) }

// Load adds every key under the prefix in db and then makes the filter
// answer: a key written while Load runs is either read by it or passed
// to Add by its writer, so once Load returns nil no key in the database
// gets a "no". It reads keys only, a batch of them per lock, and stops
// early (leaving the filter answering "maybe") if ctx ends. Run it once,
// after the writers Add their keys.
func (f *Filter) Load(ctx context.Context, db *DB) error {
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: f.prefix, UpperBound: PrefixEnd(f.prefix)})
	if err != nil {
		return fmt.Errorf("store filter: %w", err)
	}
	hs := make([]uint64, 0, 1024)
	flush := func() {
		f.mu.Lock()
		for _, h := range hs {
			f.add(h)
		}
		f.mu.Unlock()
		hs = hs[:0]
	}
	for ok := it.First(); ok; ok = it.Next() {
		hs = append(hs, maphash.Bytes(f.seed, it.Key()))
		if len(hs) == cap(hs) {
			flush()
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
	}
	flush()
	if err := it.Error(); err != nil {
		it.Close()
		return fmt.Errorf("store filter: %w", err)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store filter: %w", err)
	}
	f.loaded.Store(true)
	return nil
}
