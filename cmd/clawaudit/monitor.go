package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/monitor"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/sumdb/note"
)

// progressMinTiles is the sync length, in tiles, above which a progress
// bar is worth showing.
const progressMinTiles = 4

// monitorRun follows one log. It is owned by the goroutine running
// cmdMonitor; nothing in it is shared.
type monitorRun struct {
	e        *env
	server   string
	c        *logClient
	v        note.Verifier
	dir      string
	progress bool
	log      *slog.Logger
	// state is the last verified state, as saved in dir.
	state *monitor.State
}

// fatalError is an operational error that retrying will not fix (the
// state directory cannot be written): the monitor loop stops on it.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func cmdMonitor(ctx context.Context, args []string, e *env) error {
	fs := newFlagSet("monitor", e.stderr, "monitor --server URL --key VKEY --state DIR [--once] [--interval 10s] [--progress]")
	server := fs.String("server", "", "the log server to follow, such as http://127.0.0.1:8080 (required)")
	key := fs.String("key", "", "the log's verifier key string, or a file holding it (required)")
	dir := fs.String("state", "", "folder of the trusted state, created 0700 (required)")
	once := fs.Bool("once", false, "run one round, then exit")
	interval := fs.Duration("interval", 10*time.Second, "time between rounds")
	progress := fs.Bool("progress", false, "show a progress bar on long syncs even when stderr is not a terminal")
	timeout := fs.Duration("timeout", defaultTimeout, "HTTP timeout of one request")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("monitor takes no arguments, got %q", pos[0])
	}
	if *server == "" {
		return usageErrorf("--server URL is required")
	}
	if *interval <= 0 {
		return usageErrorf("--interval must be positive")
	}
	v, err := loadVerifier(*key)
	if err != nil {
		return err
	}
	c, err := newLogClient(*server, *timeout)
	if err != nil {
		return err
	}
	if err := openStateDir(*dir); err != nil {
		return err
	}
	unlock, err := lockStateDir(*dir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(*dir, v)
	if err != nil {
		return err
	}
	m := &monitorRun{
		e: e, server: c.base, c: c, v: v, dir: *dir, state: st,
		progress: *progress || isTerminal(e.stderr),
		log:      slog.New(slog.NewTextHandler(e.stderr, nil)),
	}
	if *once {
		return m.round(ctx, true)
	}
	return m.loop(ctx, *interval)
}

// loop runs rounds until ctx is done. A security failure or a fatal error
// stops it; an operational error (server down, HTTP error) is logged and
// retried at the next round, since a monitor should outlive outages.
func (m *monitorRun) loop(ctx context.Context, interval time.Duration) error {
	first := true
	for {
		err := m.round(ctx, first)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			first = false
		case errors.Is(err, transparency.ErrVerification):
			return err
		case errors.As(err, new(*fatalError)):
			return err
		default:
			m.log.Warn("monitor round failed, retrying", "server", m.server, "err", describe(err), "retry_in", interval)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// round fetches the latest checkpoint and verifies that it extends the
// trusted state, entry by entry; on success it saves the new state.
// verbose prints a line even when the log did not grow.
func (m *monitorRun) round(ctx context.Context, verbose bool) error {
	raw, err := m.c.checkpoint(ctx)
	if err != nil {
		return err
	}
	cp, err := transparency.OpenCheckpoint(raw, m.v)
	if err != nil {
		err = fmt.Errorf("checkpoint served by %s: %w", m.server, err)
		if errors.Is(err, transparency.ErrVerification) {
			return m.securityFailure(err, raw)
		}
		return err
	}
	y, err := monitor.Begin(m.state, cp)
	if err != nil {
		if errors.Is(err, transparency.ErrVerification) {
			return m.securityFailure(err, cp.Note)
		}
		return err
	}
	from, tiles := m.state.Size(), y.Tiles()
	bar := m.newBar(len(tiles), cp.Size-from)
	for _, id := range tiles {
		bundle, err := m.c.tile(ctx, id)
		if err != nil {
			return err
		}
		hid := id
		hid.Entries = false
		hashTile, err := m.c.tile(ctx, hid)
		if err != nil {
			return err
		}
		before := y.Next()
		if err := y.AddTile(id, bundle, hashTile); err != nil {
			if errors.Is(err, transparency.ErrVerification) {
				return m.securityFailure(err, cp.Note)
			}
			return err
		}
		if bar != nil {
			bar.Add64(int64(y.Next() - before))
		}
	}
	if bar != nil {
		bar.Finish()
		bar.Exit()
	}
	for _, id := range y.UpperTiles() {
		data, err := m.c.tile(ctx, id)
		if err != nil {
			return err
		}
		if err := y.CheckUpperTile(id, data); err != nil {
			if errors.Is(err, transparency.ErrVerification) {
				return m.securityFailure(err, cp.Note)
			}
			return err
		}
	}
	next, err := y.Finish()
	if err != nil {
		if errors.Is(err, transparency.ErrVerification) {
			return m.securityFailure(err, cp.Note)
		}
		return err
	}
	changed := m.state.Checkpoint == nil || string(m.state.Checkpoint.Note) != string(next.Checkpoint.Note)
	if changed {
		if err := saveState(m.dir, next); err != nil {
			return &fatalError{err}
		}
	}
	m.state = next
	if changed || verbose {
		fmt.Fprintf(m.e.stdout, "OK: %s: verified checkpoint of size %d (root %s), %d new entries\n",
			cp.Origin, cp.Size, cp.Root, cp.Size-from)
	}
	return nil
}

// securityFailure prints the evidence of err (the trusted checkpoint and
// what the log served) and saves it in the state directory.
func (m *monitorRun) securityFailure(err error, served []byte) error {
	now := m.e.now().UTC()
	var b strings.Builder
	fmt.Fprintf(&b, "SECURITY FAILURE: %s\n", describe(err))
	fmt.Fprintf(&b, "server: %s\n", m.server)
	fmt.Fprintf(&b, "time: %s\n", now.Format(time.RFC3339))
	fmt.Fprintf(&b, "--- trusted checkpoint (size %d)\n%s", m.state.Size(), checkpointText(trustedNote(m.state)))
	fmt.Fprintf(&b, "--- checkpoint served by the log\n%s", checkpointText(served))
	fmt.Fprint(m.e.stdout, b.String())
	path, werr := writeEvidence(m.dir, now, b.String())
	if werr != nil {
		return fmt.Errorf("%w (and the evidence could not be saved: %v)", err, werr)
	}
	return fmt.Errorf("%w (evidence saved in %s)", err, path)
}

// newBar returns a progress bar on stderr for a sync of more than a few
// tiles, when stderr is a terminal or --progress was given; else nil.
func (m *monitorRun) newBar(tiles int, leaves uint64) *progressbar.ProgressBar {
	if !m.progress || tiles <= progressMinTiles {
		return nil
	}
	return progressbar.NewOptions64(int64(leaves),
		progressbar.OptionSetWriter(m.e.stderr),
		progressbar.OptionSetDescription("verifying entries"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("entries"),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
