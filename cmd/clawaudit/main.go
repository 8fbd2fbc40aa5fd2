// Command clawaudit is the standalone auditor of a ClawNet log. It verifies
// receipts offline, checks that two signed checkpoints are consistent, and
// monitors a log by downloading its C2SP tlog-tiles and recomputing every
// root itself.
//
// Trust comes only from the log's verifier key, which the user gives with
// --key; nothing the server says is believed until it checks out against
// that key. clawaudit imports only pure verification code (package
// transparency and transparency/monitor, sumdb/note, transparency-dev/merkle),
// never the server or its storage, so that it is an independent check.
//
// Exit codes:
//
//	0  verified
//	1  verification failed: a security failure (bad signature, bad proof,
//	   a fork, a log that serves entries not matching its checkpoint)
//	2  usage or operational error (missing or malformed file, server
//	   unreachable, HTTP error)
//
// Usage:
//
//	clawaudit verify RECEIPT... --key VKEY [--json]
//	clawaudit consistency --key VKEY OLD NEW [--proof FILE | --server URL]
//	clawaudit monitor --server URL --key VKEY --state DIR [--once] [--interval 10s] [--progress]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/clawnet/ledger/transparency"
)

// Exit codes.
const (
	exitOK       = 0
	exitSecurity = 1
	exitError    = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command may touch of the outside world; tests replace the
// clock.
type env struct {
	stdout, stderr io.Writer
	now            func() time.Time
}

// run is main without the process: it parses args, runs one command and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdout: stdout, stderr: stderr, now: time.Now})
}

const usageText = `usage:
  clawaudit verify RECEIPT... --key VKEY [--json]
  clawaudit consistency --key VKEY OLD NEW [--proof FILE | --server URL]
  clawaudit monitor --server URL --key VKEY --state DIR [--once] [--interval 10s] [--progress]

VKEY is the log's verifier key string (as served at /log/key), or a file holding it.
Exit codes: 0 verified, 1 verification failed (security), 2 usage or operational error.
`

func runEnv(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return exitError
	}
	var err error
	switch args[0] {
	case "verify":
		err = cmdVerify(ctx, args[1:], e)
	case "consistency":
		err = cmdConsistency(ctx, args[1:], e)
	case "monitor":
		err = cmdMonitor(ctx, args[1:], e)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	default:
		err = usageErrorf("unknown command %q", args[0])
	}
	return report(e.stderr, err)
}

// report prints err as one line and maps it to an exit code: security
// failures (transparency.ErrVerification) are 1, everything else 2.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "clawaudit: %s\n", describe(err))
	if errors.Is(err, transparency.ErrVerification) {
		return exitSecurity
	}
	return exitError
}

// reportedError is returned by commands that already printed the details
// of their failures (such as verify with several receipts); it carries the
// summary line and the class of the worst failure.
type reportedError struct {
	msg      string
	security bool
}

func (e *reportedError) Error() string { return e.msg }

func (e *reportedError) Is(target error) bool {
	return e.security && target == transparency.ErrVerification
}

// hintError adds a hint for the user to an error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: hint}
}

// errUsage marks a command line that cannot be run.
var errUsage = errors.New("usage")

var errHelp = errors.New("help requested")

func usageErrorf(format string, args ...any) error {
	return &hintError{
		err:  fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...)),
		hint: "run 'clawaudit help'",
	}
}

// describe renders err on one line, with its hint if it has one.
func describe(err error) string {
	msg := err.Error()
	var h *hintError
	if errors.As(err, &h) {
		msg += " (hint: " + h.hint + ")"
	}
	return oneLine(msg)
}

// oneLine keeps a message on one line: server-provided text and error
// chains must not break the "clawaudit: ..." format.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		if r < 0x20 && r != '\t' {
			return -1
		}
		return r
	}, s)
}
