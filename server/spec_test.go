package server

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/status"
)

// TestOpenAPICoversAPI checks spec/openapi.yaml against the code: every
// route is a documented path with its method, and every error code is in
// the documented enum and table. (The spec's own validity is checked with
// an OpenAPI validator outside go test.)
func TestOpenAPICoversAPI(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	if !strings.HasPrefix(spec, "openapi: 3.1") {
		t.Errorf("spec does not declare OpenAPI 3.1")
	}
	// Top-level path keys and the methods under each.
	paths := map[string]map[string]bool{}
	var cur string
	inPaths := false
	for _, line := range strings.Split(spec, "\n") {
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && len(line) > 0 && line[0] != ' ':
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /"):
			cur = strings.TrimSuffix(strings.TrimSpace(line), ":")
			paths[cur] = map[string]bool{}
		case inPaths && cur != "" && regexp.MustCompile(`^    (get|post|put|delete):$`).MatchString(line):
			paths[cur][strings.ToUpper(strings.Trim(line, " :"))] = true
		}
	}
	s := &Server{}
	for _, rt := range s.routeTable() {
		if !paths[rt.path][rt.method] {
			t.Errorf("%s %s is not documented in spec/openapi.yaml", rt.method, rt.path)
		}
	}
	for _, p := range []string{"/log/tile/{level}/{index}", "/log/tile/entries/{index}"} {
		if !paths[p]["GET"] {
			t.Errorf("GET %s is not documented", p)
		}
	}
	for _, code := range errorCodes {
		if !strings.Contains(spec, "                - "+code+"\n") {
			t.Errorf("error code %s is not in the Error schema's enum", code)
		}
		if !strings.Contains(spec, "| `"+code+"` |") {
			t.Errorf("error code %s is not in the error table", code)
		}
	}
}

// TestOpenAPICoversEveryRoute: with every feature on, each route the
// server registers is a documented path with its method, and the
// VC-API's own codes are in the Error enum and table.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	paths := map[string]map[string]bool{}
	var cur string
	inPaths := false
	method := regexp.MustCompile(`^    (get|post|put|delete|patch):$`)
	for _, line := range strings.Split(spec, "\n") {
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && len(line) > 0 && line[0] != ' ':
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /"):
			cur = strings.TrimSuffix(strings.TrimSpace(line), ":")
			paths[cur] = map[string]bool{}
		case inPaths && cur != "" && method.MatchString(line):
			paths[cur][strings.ToUpper(strings.Trim(line, " :"))] = true
		}
	}
	// Non-nil markers switch every optional route group on; the handlers
	// are not called.
	s := &Server{registry: &registry.Registry{}, status: &status.Lists{}, grants: &grant.Registry{},
		mailbox: &mailbox.Mailbox{}, events: &events.Streams{}}
	n := 0
	for _, rt := range s.routeTable() {
		n++
		if !paths[rt.path][rt.method] {
			t.Errorf("%s %s is not documented in spec/openapi.yaml", rt.method, rt.path)
		}
	}
	if n < 40 {
		t.Fatalf("only %d routes with every feature on: an optional group is not switched on", n)
	}
	for _, code := range []string{CodeIssuerNotFound, CodeCredentialTypeUnsupported, CodeCredentialInvalid,
		CodeCredentialAlreadyIssued, CodeFormatUnsupported} {
		if !strings.Contains(spec, "                - "+code+"\n") {
			t.Errorf("VC-API code %s is not in the Error schema's enum", code)
		}
		if !strings.Contains(spec, "`"+code+"`") {
			t.Errorf("VC-API code %s is not in an error table", code)
		}
	}
}

// TestStatusErrorCodes: every status-list refusal code has an HTTP status
// and is documented with it.
func TestStatusErrorCodes(t *testing.T) {
	b, err := os.ReadFile("../spec/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, c := range status.Codes() {
		st, ok := statusStatus[c]
		if !ok {
			t.Errorf("status code %s has no HTTP status in server/", c)
			continue
		}
		if !strings.Contains(spec, "                - "+string(c)+"\n") {
			t.Errorf("status code %s is not in the Error schema's enum", c)
		}
		if row := "| " + strconv.Itoa(st) + " | `" + string(c) + "` |"; !strings.Contains(spec, row) {
			t.Errorf("status code %s is not in an error table as %q", c, row)
		}
	}
}
