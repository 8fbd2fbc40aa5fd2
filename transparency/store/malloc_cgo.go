//go:build cgo && linux

package store

/*
#include <malloc.h>

// limit_arenas caps glibc's malloc arenas. glibc gives each thread that
// calls malloc under contention its own arena (up to 8 per CPU), and pebble
// allocates and frees its cache blocks (C malloc under cgo) from whichever
// Go thread runs the read; freed blocks stay in their arena, so RSS grew
// to twice the cache's size under proof load. Two arenas (the setting of
// MALLOC_ARENA_MAX=2) took a serving process at 10 million entries from 460
// to 304 MB, at no measurable cost to proofs; appends at full load lost a
// few per cent and their p99 rose (spec/benchmarks.md). Other C libraries
// have no such setting; the call is compiled only for glibc.
// It returns 1 if the limit is set, 0 if mallopt refused it and -1 where
// there is no such setting.
static int limit_arenas(int n) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	return mallopt(M_ARENA_MAX, n);
#else
	return -1;
#endif
}
*/
import "C"

import "os"

// mallocArenas is the glibc arena limit set before the first database
// opens. It is process-wide: it holds for every C allocation, which in this
// program are pebble's.
const mallocArenas = 2

// mallocArenasResult is what limit_arenas returned (tests check it); 0 if
// it was not called because MALLOC_ARENA_MAX is set. Written once by init.
var mallocArenasResult int

func init() {
	// An operator's MALLOC_ARENA_MAX (read by glibc itself) wins.
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		return
	}
	// mallopt only sets a limit that glibc consults when it would create
	// an arena, so calling it at any time is safe; init is before pebble
	// allocates anything.
	mallocArenasResult = int(C.limit_arenas(mallocArenas))
}
