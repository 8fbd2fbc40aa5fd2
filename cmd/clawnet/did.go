package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

func init() {
	registerCommand(command{name: "did", summary: "resolve DIDs; create, rotate and deactivate DIDs hosted by a server", run: cmdDID})
}

func didUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet did resolve DID [--version-id N] [--document] [--server URL]
      print the DID resolution result (or, with --document, the DID document)
`)
}

func cmdDID(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		didUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "resolve":
		return cmdDIDResolve(ctx, args[1:], stdout, stderr)
	}
	if c, ok := didCommands[args[0]]; ok {
		return c(ctx, args[1:], stdout, stderr)
	}
	didUsage(stderr)
	return exitUsage
}

// didCommands holds the other "did" subcommands, registered by the files
// that implement them.
var didCommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{}

// identifiersURL is the DID resolution endpoint for d: the DID goes into
// the path percent-encoded once, so that the '%' of a did:web port
// ("%3A") reaches the server intact.
func identifiersURL(server, d string) string {
	return strings.TrimRight(server, "/") + "/1.0/identifiers/" + url.PathEscape(d)
}

func cmdDIDResolve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("did resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer, "server `URL`")
	version := fs.String("version-id", "", "resolve this version of a hosted did:web")
	docOnly := fs.Bool("document", false, "print only the DID document (application/did+ld+json)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: clawnet did resolve DID [--version-id N] [--document] [--server URL]")
		return exitUsage
	}
	u := identifiersURL(*server, pos[0])
	if *version != "" {
		u += "?versionId=" + url.QueryEscape(*version)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet did resolve: %v\n", err)
		return exitUsage
	}
	accept := "application/did-resolution"
	if *docOnly {
		accept = "application/did+ld+json"
	}
	req.Header.Set("Accept", accept)
	resp, err := httpClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "clawnet did resolve: %v\n  hint: is `clawnet serve` running at that address? (--server)\n", err)
		return exitFail
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Fprintf(stderr, "clawnet did resolve: %v\n", err)
		return exitFail
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") != nil {
		fmt.Fprintf(stderr, "clawnet did resolve: the server answered %s with a body that is not JSON\n", resp.Status)
		return exitFail
	}
	if resp.StatusCode != http.StatusOK {
		// The body is a resolution result carrying the error; show it.
		var res struct {
			Meta struct {
				Error        string `json:"error"`
				ErrorMessage string `json:"errorMessage"`
			} `json:"didResolutionMetadata"`
		}
		_ = json.Unmarshal(b, &res)
		fmt.Fprintf(stderr, "clawnet did resolve: %s: %s (%s)\n", res.Meta.Error, res.Meta.ErrorMessage, resp.Status)
		fmt.Fprintln(stdout, pretty.String())
		return exitFail
	}
	fmt.Fprintln(stdout, pretty.String())
	return exitOK
}
