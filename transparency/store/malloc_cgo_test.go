//go:build cgo && linux

package store

import (
	"os"
	"testing"
)

// The glibc arena limit is what keeps pebble's C memory near its budget
// (spec/benchmarks.md); a build where the call silently does nothing would
// bring the RSS back over it.
func TestMallocArenasLimited(t *testing.T) {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		if mallocArenasResult != 0 {
			t.Fatalf("limit set to %d despite MALLOC_ARENA_MAX", mallocArenasResult)
		}
		t.Skip("MALLOC_ARENA_MAX is set: the operator's value applies")
	}
	switch mallocArenasResult {
	case 1:
	case -1:
		t.Skip("not glibc: no arena limit to set")
	default:
		t.Fatalf("mallopt(M_ARENA_MAX, %d) = %d, want 1", mallocArenas, mallocArenasResult)
	}
}
