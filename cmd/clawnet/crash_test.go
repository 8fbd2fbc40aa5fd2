package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	crashRounds = flag.Int("crash-rounds", 8, "number of SIGKILL rounds in TestCrashSafety (use e.g. 200 for a soak)")
	crashSeed   = flag.Uint64("crash-seed", 0, "seed for the kill timings of TestCrashSafety; 0 picks one and logs it")
)

const childEnv = "CLAWNET_TEST_MAIN"

// serverProc is a clawnet serve process started by startServer.
type serverProc struct {
	cmd  *exec.Cmd
	url  string
	vkey string
	done chan error
}

// startServer runs `clawnet serve` as a child process on a free loopback
// port and returns once it printed its address; extra flags follow the
// defaults, so they may override them (such as --addr).
func startServer(t *testing.T, dataDir string, extra ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--log-level", "warn"}, extra...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serverProc{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	deadline := time.After(30 * time.Second)
	for s.url == "" || s.vkey == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("clawnet serve exited before it was ready; stderr:\n%s", stderr.String())
			}
			if v, ok := strings.CutPrefix(l, "clawnet ledger serving on "); ok {
				s.url = v
			}
			if v, ok := strings.CutPrefix(l, "log verifier key: "); ok {
				s.vkey = v
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("clawnet serve did not print its address in time; stderr:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return s
}

func (s *serverProc) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-s.done
}

// acked is an append the server acknowledged with a receipt.
type acked struct {
	receipt *transparency.Receipt
}

// TestCrashSafety kills a real `clawnet serve` process with SIGKILL, many
// times, while concurrent clients append over HTTP and a poller records
// every checkpoint served. After the last restart every acknowledged entry
// must be present, byte for byte, at its index, and every checkpoint ever
// served must be consistent with the final tree, whose hashes are
// recomputed from the entries with golang.org/x/mod/sumdb/tlog (an
// implementation independent of ours).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes; skipped in -short")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crash seed %d (rerun with -crash-seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()

	var (
		mu          sync.Mutex
		acks        []acked
		checkpoints [][]byte
		vkey        string
	)
	for round := 0; round < *crashRounds; round++ {
		s := startServer(t, dir)
		if vkey == "" {
			vkey = s.vkey
		} else if vkey != s.vkey {
			t.Fatalf("round %d: verifier key changed across restarts: %q then %q", round, vkey, s.vkey)
		}
		token, err := os.ReadFile(filepath.Join(dir, "operator.token"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 10 * time.Second}
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					body := fmt.Sprintf(`{"reason":"round %d writer %d append %d"}`, round, w, n)
					r, err := appendOverHTTP(ctx, client, s.url, strings.TrimSpace(string(token)), body)
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acks = append(acks, acked{r})
					mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cp, err := get(ctx, client, s.url+"/log/checkpoint")
				if err != nil {
					return
				}
				mu.Lock()
				checkpoints = append(checkpoints, cp)
				mu.Unlock()
			}
		}()
		// Kill at a random moment: sometimes right after start, mostly
		// in the middle of the load.
		delay := time.Duration(rng.IntN(250)) * time.Millisecond
		if rng.IntN(8) == 0 {
			delay = time.Duration(rng.IntN(5)) * time.Millisecond
		}
		time.Sleep(delay) // the kill moment itself is what we randomize
		s.kill(t)
		cancel()
		wg.Wait()
	}

	s := startServer(t, dir)
	defer s.kill(t)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	final, err := get(context.Background(), client, s.url+"/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	fcp, err := transparency.OpenCheckpoint(final, v)
	if err != nil {
		t.Fatalf("final checkpoint: %v", err)
	}
	entries := downloadEntries(t, client, s.url, fcp.Size)

	// Recompute every stored hash independently with sumdb/tlog.
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, hr)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
	rootAt := func(n uint64) transparency.Hash {
		h, err := tlog.TreeHash(int64(n), hr)
		if err != nil {
			t.Fatal(err)
		}
		return transparency.Hash(h)
	}
	if got := rootAt(fcp.Size); got != fcp.Root {
		t.Fatalf("final checkpoint root %s, recomputed from entries %s", fcp.Root, got)
	}

	if len(acks) == 0 {
		t.Fatal("no append was acknowledged in any round: the test exercised nothing")
	}
	for _, a := range acks {
		vr, err := transparency.VerifyReceipt(a.receipt, v)
		if err != nil {
			t.Fatalf("acknowledged receipt does not verify: %v", err)
		}
		if vr.Index >= fcp.Size {
			t.Fatalf("acknowledged entry %d lost: final tree size %d", vr.Index, fcp.Size)
		}
		if !bytes.Equal(entries[vr.Index], vr.EntryBytes) {
			t.Fatalf("acknowledged entry %d differs after restart:\n got %s\nwant %s", vr.Index, entries[vr.Index], vr.EntryBytes)
		}
		if rootAt(vr.Checkpoint.Size) != vr.Checkpoint.Root {
			t.Fatalf("receipt checkpoint of size %d is not consistent with the final tree", vr.Checkpoint.Size)
		}
	}
	for _, cp := range checkpoints {
		c, err := transparency.OpenCheckpoint(cp, v)
		if err != nil {
			t.Fatalf("served checkpoint does not verify: %v\n%s", err, cp)
		}
		if c.Size > fcp.Size {
			t.Fatalf("a served checkpoint of size %d is beyond the final size %d: entries were lost", c.Size, fcp.Size)
		}
		if rootAt(c.Size) != c.Root {
			t.Fatalf("served checkpoint of size %d is not consistent with the final tree (fork)", c.Size)
		}
	}
	t.Logf("%d rounds: %d acknowledged appends, %d checkpoints checked, final size %d", *crashRounds, len(acks), len(checkpoints), fcp.Size)
}

func appendOverHTTP(ctx context.Context, c *http.Client, base, token, body string) (*transparency.Receipt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/log/v1/entries", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("append: %s: %s", resp.Status, b)
	}
	return transparency.ParseReceipt(b)
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b, nil
}

// downloadEntries reads entries [0, size) through the C2SP entry bundles.
func downloadEntries(t *testing.T, c *http.Client, base string, size uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for n := uint64(0); n*transparency.TileWidth < size; n++ {
		w := size - n*transparency.TileWidth
		if w > transparency.TileWidth {
			w = transparency.TileWidth
		}
		id := transparency.TileID{Entries: true, N: n, Width: int(w)}
		b, err := get(context.Background(), c, base+"/log/"+id.Path())
		if err != nil {
			t.Fatal(err)
		}
		es, err := transparency.ParseEntryBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != int(w) {
			t.Fatalf("bundle %d: %d entries, want %d", n, len(es), w)
		}
		out = append(out, es...)
	}
	return out
}
