package registry

import (
	"os"
	"strings"
	"testing"
)

// TestSpecDocumentsEveryCode: spec/identity.md lists every refusal code
// and every entry type the registry writes.
func TestSpecDocumentsEveryCode(t *testing.T) {
	b, err := os.ReadFile("../../spec/identity.md")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, c := range Codes() {
		if !strings.Contains(spec, "| `"+c+"` |") {
			t.Errorf("spec/identity.md has no row for %s", c)
		}
	}
	for _, typ := range []string{"did.created", "did.updated", "did.deactivated", "owner.registered",
		"agent.bound", "agent.unbound", "contact.requested", "contact.accepted", "contact.removed"} {
		if !strings.Contains(spec, "| `"+typ+"` |") {
			t.Errorf("spec/identity.md does not specify %s", typ)
		}
	}
}
