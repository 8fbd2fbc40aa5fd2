package server

import (
	"os"
	"regexp"
	"strings"
	"testing"
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
