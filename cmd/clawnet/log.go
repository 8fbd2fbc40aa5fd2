package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/transparency"
)

const defaultServer = "http://127.0.0.1:8080"

func logUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet log append --reason TEXT [--resource R] [--receipt FILE] [--server URL] [--token-file FILE]
      append an operator note to the log (operator only) and print its index
  clawnet log receipt INDEX [--out FILE] [--server URL]
      fetch the receipt of entry INDEX against the latest checkpoint
`)
}

func init() {
	registerCommand(command{name: "log", summary: "append an operator note, fetch receipts (log append|receipt)", run: cmdLog})
}

func cmdLog(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		logUsage(stderr)
		return 2
	}
	switch args[0] {
	case "append":
		return cmdLogAppend(ctx, args[1:], stdout, stderr)
	case "receipt":
		return cmdLogReceipt(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		logUsage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "clawnet log: unknown command %q\n", args[0])
	logUsage(stderr)
	return 2
}

func cmdLogAppend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clawnet log append", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer, "server URL")
	tokenFile := fs.String("token-file", filepath.Join("clawnet-data", "operator.token"), "file holding the operator token")
	reason := fs.String("reason", "", "the note to log (required)")
	resource := fs.String("resource", "", "the resource the note is about")
	receiptOut := fs.String("receipt", "", "save the receipt to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *reason == "" {
		fmt.Fprintln(stderr, "clawnet log append: --reason is required and no arguments are taken")
		return 2
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet log append: read operator token: %v\n  hint: the token is in the server's data folder (--data), file operator.token\n", err)
		return 2
	}
	body, _ := json.Marshal(map[string]string{"reason": *reason, "resource": *resource})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*server, "/")+"/log/v1/entries", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "clawnet log append: %v\n", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	b, err := do(req)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet log append: %v\n", err)
		return 1
	}
	return printReceipt(b, *receiptOut, stdout, stderr, "clawnet log append")
}

func cmdLogReceipt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clawnet log receipt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer, "server URL")
	out := fs.String("out", "", "save the receipt to this file instead of printing it")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: clawnet log receipt INDEX [--out FILE] [--server URL]")
		return 2
	}
	idx, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet log receipt: index %q is not a non-negative integer\n", pos[0])
		return 2
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/log/v1/receipts/%d", strings.TrimRight(*server, "/"), idx), nil)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet log receipt: %v\n", err)
		return 2
	}
	b, err := do(req)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet log receipt: %v\n", err)
		return 1
	}
	if *out == "" {
		stdout.Write(b)
		return 0
	}
	return printReceipt(b, *out, stdout, stderr, "clawnet log receipt")
}

// printReceipt checks that b is a well-formed receipt, prints a summary and
// saves it to out when out is not empty. It does not verify it: that is
// clawaudit's job, with a key the user trusts.
func printReceipt(b []byte, out string, stdout, stderr io.Writer, cmd string) int {
	r, err := transparency.ParseReceipt(b)
	if err != nil {
		fmt.Fprintf(stderr, "%s: the server sent a bad receipt: %v\n", cmd, err)
		return 1
	}
	cp, err := transparency.ParseCheckpointText(checkpointBody(r.Checkpoint))
	if err != nil {
		fmt.Fprintf(stderr, "%s: the server sent a bad checkpoint: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintf(stdout, "entry %d in the log (checkpoint tree size %d)\n", r.Index, cp.Size)
	if out != "" {
		enc, err := r.Marshal()
		if err == nil {
			err = os.WriteFile(out, enc, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: save receipt: %v\n", cmd, err)
			return 1
		}
		fmt.Fprintf(stdout, "receipt saved to %s\n", out)
	}
	return 0
}

// checkpointBody returns the text of a signed note before its signatures.
func checkpointBody(signed string) string {
	if i := strings.Index(signed, "\n\n"); i >= 0 {
		return signed[:i+1]
	}
	return signed
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends req and returns the body of a 2xx response; other responses
// become errors carrying the server's error code and message.
func do(req *http.Request) ([]byte, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%v\n  hint: is `clawnet serve` running at that address? (--server)", err)
	}
	defer resp.Body.Close()
	return readAnswer(resp, 16<<20)
}
