package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/did/request"
)

// clawnet events: an owner's or an agent's event stream (spec/events.md),
// one line per event: its id, its type and its JSON. Without --follow it
// prints what is stored and exits; with --follow it stays connected and,
// when the connection drops, reconnects from the last id it printed, with
// a newly signed request (a signed request's jti is single-use).

func init() {
	registerCommand(command{name: "events", summary: "print (and follow) an owner's or an agent's event stream", run: cmdEvents})
}

const eventsUsage = "clawnet events (--owner-key FILE | --agent-key FILE) [--follow] [--since ID] [--server URL]"

// eventsRetry is the pause before reconnecting a followed stream; a
// variable so that tests need not wait.
var eventsRetry = 2 * time.Second

// streamClient has no overall timeout: a stream lasts as long as it is
// followed. Connecting is still bounded by the transport's dial timeout.
var streamClient = &http.Client{}

func cmdEvents(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer, "server `URL` (its public URL)")
	ownerKey := fs.String("owner-key", "", "read the stream of the owner of this key `FILE`")
	agentKey := fs.String("agent-key", "", "read the stream of the agent of this key `FILE`")
	follow := fs.Bool("follow", false, "stay connected and print new events; reconnect when the connection drops")
	since := fs.String("since", "0", "print the events after this event `ID`")
	if rest, err := parseInterspersed(fs, args); err != nil || len(rest) != 0 {
		return usageErr(stderr, eventsUsage)
	}
	if (*ownerKey == "") == (*agentKey == "") {
		fmt.Fprintln(stderr, "clawnet events: give exactly one of --owner-key and --agent-key")
		return usageErr(stderr, eventsUsage)
	}
	last, err := strconv.ParseUint(*since, 10, 64)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet events: --since %q is not an event id\n", *since)
		return usageErr(stderr, eventsUsage)
	}
	kind, keyPath := "owners", *ownerKey
	if *agentKey != "" {
		kind, keyPath = "agents", *agentKey
	}
	k, err := readKeyFile(keyPath)
	if err != nil {
		return fail(stderr, "events", err)
	}
	origin, err := serverOrigin(*server)
	if err != nil {
		return fail(stderr, "events", err)
	}
	path := "/v1/" + kind + "/" + url.PathEscape(k.DID) + "/events"
	for {
		err := readStream(ctx, origin, k, path, &last, *follow, stdout)
		switch {
		case ctx.Err() != nil:
			return exitOK // interrupted: following ends here
		case err == nil:
			return exitOK
		case !*follow:
			return fail(stderr, "events", err)
		}
		var ae *apiError
		if errors.As(err, &ae) && !strings.HasPrefix(ae.Status, "5") {
			return fail(stderr, "events", err) // refused: retrying will not help
		}
		fmt.Fprintf(stderr, "clawnet events: %v; reconnecting after event %d\n", err, last)
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(eventsRetry):
		}
	}
}

// errStreamEnded is a stream that ended without the client asking.
var errStreamEnded = errors.New("the server ended the stream")

// readStream reads one connection of the stream from *last on, printing
// each event and advancing *last. Without follow it returns nil once the
// server says the stored backlog is sent (": live").
func readStream(ctx context.Context, origin string, k *signingKey, path string, last *uint64, follow bool, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatUint(*last, 10))
	s := &request.Signer{Key: k.Priv, KID: k.KID, Audience: origin, Now: time.Now}
	if err := s.SignRequest(req); err != nil {
		return fmt.Errorf("sign request with %s: %w", k.Path, err)
	}
	resp, err := streamClient.Do(req)
	if err != nil {
		return fmt.Errorf("%v\n  hint: is `clawnet serve` running at that address? (--server)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if _, err := readAnswer(resp, 1<<20); err != nil {
			return err
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("server answered with %q, not an event stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	var id, typ, data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return errStreamEnded
			}
			return fmt.Errorf("read stream: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		switch {
		case line == "":
			if id == "" {
				continue // the end of a comment frame
			}
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil || n <= *last {
				return fmt.Errorf("stream sent event id %q after %d", id, *last)
			}
			fmt.Fprintf(stdout, "%d %s %s\n", n, typ, data)
			*last = n
			id, typ, data = "", "", ""
		case line == ": live":
			if !follow {
				return nil
			}
		case strings.HasPrefix(line, ":"):
			// A comment: the opening line or a heartbeat.
		case strings.HasPrefix(line, "id: "):
			id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			typ = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		default:
			return fmt.Errorf("stream sent a line this client does not understand: %.80q", line)
		}
	}
}
