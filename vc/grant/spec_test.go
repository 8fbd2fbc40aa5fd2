package grant

import (
	"os"
	"testing"
)

func readSpec(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../../spec/grants.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
