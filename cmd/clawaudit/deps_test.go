package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestImportsOnlyPureCode checks the auditor's promise: it is built from
// pure verification code, never from the server, the sequencer, the store
// or pebble, so that it is an independent check of them. Test files may
// import the server (the end-to-end test does); `go list -deps` without
// -test lists only what the binary is built from.
func TestImportsOnlyPureCode(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("go tool not found")
		}
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/clawnet/ledger/cmd/clawaudit").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list printed too little to be the dependency list: %q", out)
	}
	forbidden := []string{
		"github.com/clawnet/ledger/server",
		"github.com/clawnet/ledger/transparency/sequencer",
		"github.com/clawnet/ledger/transparency/store",
		"github.com/cockroachdb/",
		"github.com/prometheus/",
	}
	// Of this module, only these may be imported.
	allowedOwn := map[string]bool{
		"github.com/clawnet/ledger/transparency":         true,
		"github.com/clawnet/ledger/transparency/monitor": true,
		"github.com/clawnet/ledger/cmd/clawaudit":        true,
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
				t.Errorf("clawaudit depends on %s", d)
			}
		}
		if strings.HasPrefix(d, "github.com/clawnet/ledger/") && !allowedOwn[d] {
			t.Errorf("clawaudit depends on %s, which is not pure verification code", d)
		}
	}
}
