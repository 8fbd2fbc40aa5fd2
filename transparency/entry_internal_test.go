package transparency

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidTypeAndDigestMatchRegexp checks the hand-written validators
// against the regular expressions that spec/log-entry.md states.
func TestValidTypeAndDigestMatchRegexp(t *testing.T) {
	typeRE := regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	digestRE := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	hex64 := strings.Repeat("0123456789abcdef", 4)
	types := []string{"", "a", "a.b", "a.", ".a", "a..b", "a.b.c", "a_1.b_2", "1a.b", "a.1b", "a._b", "A.b", "a.B",
		"action.decision", "operator.note", "a.b-c", "a b.c", "a.b\n", "é.b", "a.b.", "_a.b", "a.b_", "a1.b2.c3"}
	for _, s := range types {
		if got, want := validType(s), typeRE.MatchString(s); got != want {
			t.Errorf("validType(%q) = %v, regexp says %v", s, got, want)
		}
	}
	digests := []string{"", "sha256:", "sha256:" + hex64, "sha256:" + hex64[:63], "sha256:" + hex64 + "0",
		"SHA256:" + hex64, "sha256:" + strings.ToUpper(hex64), "sha256:" + hex64[:63] + "g", "sha512:" + hex64, "sha256;" + hex64}
	for _, s := range digests {
		if got, want := validDigest(s), digestRE.MatchString(s); got != want {
			t.Errorf("validDigest(%q) = %v, regexp says %v", s, got, want)
		}
	}
}

func FuzzValidTypeAndDigest(f *testing.F) {
	typeRE := regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	digestRE := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	f.Add("action.decision")
	f.Add("sha256:" + strings.Repeat("ab", 32))
	f.Add("a..b")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validType(s), typeRE.MatchString(s); got != want {
			t.Errorf("validType(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := validDigest(s), digestRE.MatchString(s); got != want {
			t.Errorf("validDigest(%q) = %v, regexp says %v", s, got, want)
		}
	})
}
