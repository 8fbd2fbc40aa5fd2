package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/clawnet/ledger/server"
)

// clawnet inbox: an agent reads its inbox (spec/inbox.md) and, with --ack,
// acknowledges what it printed. Messages are printed before they are
// acknowledged, so an interrupted run shows them again next time
// (at-least-once); their ids are stable, so duplicates can be dropped.

func init() {
	registerCommand(command{name: "inbox", summary: "read an agent's inbox, and acknowledge the messages (--ack)", run: cmdInbox})
}

// inboxPage is the most messages asked for per request (the server's
// bound).
const inboxPage = 1000

func cmdInbox(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	const usage = "clawnet inbox --agent-key FILE [--ack] [--after SEQ] [--json] [--server URL]"
	f := newIDFlags("inbox", stderr, false)
	keyPath := f.fs.String("agent-key", "", "the agent's key `FILE`")
	ack := f.fs.Bool("ack", false, "acknowledge the printed messages, so that they are not shown again")
	after := f.fs.Uint64("after", 0, "show only messages after this `SEQ`")
	asJSON := f.fs.Bool("json", false, "print each page as the server's JSON")
	if pos, err := parseInterspersed(f.fs, args); err != nil || len(pos) != 0 || *keyPath == "" {
		return usageErr(stderr, usage)
	}
	k, err := readKeyFile(*keyPath)
	if err != nil {
		return fail(stderr, "inbox", err)
	}
	base := "/v1/agents/" + url.PathEscape(k.DID) + "/inbox"
	n, acked := 0, 0
	for cursor := *after; ; {
		b, err := call(ctx, *f.server, k, http.MethodGet, base+"?after="+strconv.FormatUint(cursor, 10)+"&limit="+strconv.Itoa(inboxPage), nil)
		if err != nil {
			return fail(stderr, "inbox", err)
		}
		var page server.InboxPage
		if err := json.Unmarshal(b, &page); err != nil {
			return fail(stderr, "inbox", fmt.Errorf("the server's answer is not an inbox page: %w", err))
		}
		if len(page.Messages) == 0 {
			break
		}
		if *asJSON {
			printJSON(stdout, b)
		}
		ids := make([]string, len(page.Messages))
		for i, m := range page.Messages {
			ids[i] = m.ID
			if !*asJSON {
				printMessage(stdout, m)
			}
		}
		n += len(page.Messages)
		if *ack {
			b, err := call(ctx, *f.server, k, http.MethodPost, base+"/ack", server.InboxAck{IDs: ids})
			if err != nil {
				return fail(stderr, "inbox", fmt.Errorf("acknowledge: %w", err))
			}
			var a server.InboxAcked
			if err := json.Unmarshal(b, &a); err != nil {
				return fail(stderr, "inbox", fmt.Errorf("the server's answer is not an acknowledgement: %w", err))
			}
			acked += a.Acked
		}
		if page.NextAfter <= cursor {
			break // a server that does not advance would loop forever
		}
		cursor = page.NextAfter
	}
	if !*asJSON {
		switch {
		case n == 0:
			fmt.Fprintf(stdout, "inbox of %s: no unacknowledged messages\n", k.DID)
		case *ack:
			fmt.Fprintf(stdout, "%d messages, %d acknowledged\n", n, acked)
		default:
			fmt.Fprintf(stdout, "%d messages (not acknowledged: run with --ack once processed)\n", n)
		}
	}
	return exitOK
}

func printMessage(w io.Writer, m server.InboxMessage) {
	fmt.Fprintf(w, "#%d %s  %s\n", m.Seq, m.ID, m.Time.UTC().Format("2006-01-02T15:04:05Z07:00"))
	fmt.Fprintf(w, "  from %s (owner %s)\n", terminalSafe(m.From), terminalSafe(m.FromOwner))
	fmt.Fprintf(w, "  %s %s  allowed by log entry %d\n", terminalSafe(m.Action), terminalSafe(m.Resource), m.DecisionIndex)
	if m.ContentDigest != "" {
		fmt.Fprintf(w, "  content %s\n", m.ContentDigest)
	}
	if m.Content == "" {
		return
	}
	for _, l := range strings.Split(m.Content, "\n") {
		fmt.Fprintf(w, "  | %s\n", terminalSafe(l))
	}
}

// terminalSafe escapes control characters: the content is another
// owner's agent's text, and must not drive the reader's terminal.
func terminalSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
