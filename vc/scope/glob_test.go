package scope

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// refMatch is the reference matcher: plain recursion over segments, with
// "*" inside a segment matched by recursion over bytes. Exponential in the
// worst case, obviously right, used only on small inputs.
func refMatch(pat, req []string) bool {
	if len(pat) == 0 {
		return len(req) == 0
	}
	if pat[0] == "**" {
		for k := 0; k <= len(req); k++ {
			if refMatch(pat[1:], req[k:]) {
				return true
			}
		}
		return false
	}
	return len(req) > 0 && refSeg(pat[0], req[0]) && refMatch(pat[1:], req[1:])
}

func refSeg(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for k := 0; k <= len(s); k++ {
			if refSeg(p[1:], s[k:]) {
				return true
			}
		}
		return false
	}
	return s != "" && p[0] == s[0] && refSeg(p[1:], s[1:])
}

func globMatch(t testing.TB, p, r string) bool {
	g, err := compileGlob(p)
	if err != nil {
		t.Fatalf("pattern %q: %v", p, err)
	}
	var res resource
	if prob := splitResource(r, &res); prob != "" {
		t.Fatalf("resource %q: %s", r, prob)
	}
	return g.match(&res)
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, r string
		want bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a/b", "a/b", true},
		{"a/b", "a", false},
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"a/**", "a", true},
		{"a/**", "ab", false},
		{"a/**", "a/b/c", true},
		{"**/a", "a", true},
		{"**/a", "b/a", true},
		{"**/a", "a/b", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/b/b", true},
		{"a/**/b", "a/x", false},
		{"**/**/**/x", "x", true},
		{"**/**/**/x", strings.Repeat("y/", 60) + "x", true},
		{"**/**/**/x", strings.Repeat("y/", 63) + "y", false},
		{"**/a/**/b/**", "b/a", false},
		{"**/a/**/b/**", "a/b", true},
		{"**/a/b/**", "a/x/b", false},
		{"**/a/b/**", "a/a/b", true},
		{"*", "abc", true},
		{"*", "a/b", false},
		{"a*", "a", true},
		{"a*c", "abc", true},
		{"a*c", "abcd", false},
		{"*a*a*", "aa", true},
		{"*a*a*", "a", false},
		{"a*b*c", "abbbc", true},
		{"*/*", "a/b", true},
		{"*/*", "a", false},
		{"x/*/**/*.pdf", "x/y/z.pdf", true},
		{"x/*/**/*.pdf", "x/z.pdf", false},
		{"é*", "éa", true},
		{"*é", "aé", true},
	}
	for _, tt := range tests {
		if got := globMatch(t, tt.p, tt.r); got != tt.want {
			t.Errorf("%q vs %q: %v", tt.p, tt.r, got)
		}
		if ref := refMatch(strings.Split(tt.p, "/"), strings.Split(tt.r, "/")); ref != tt.want {
			t.Errorf("reference disagrees with the table on %q vs %q", tt.p, tt.r)
		}
	}
}

// FuzzGlob compares the matcher with the reference on small inputs.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"a/**/b", "a/b"}, {"**/x", "x"}, {"*a*a*", "aaa"}, {"**/**/a/*b", "a/ab"}, {"a*/**", "ab/c/d"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, r string) {
		if len(p) > 40 || len(r) > 40 || patternProblem(p) != "" {
			return
		}
		g, _ := compileGlob(p)
		var res resource
		if splitResource(r, &res) != "" {
			return
		}
		want := refMatch(strings.Split(p, "/"), strings.Split(r, "/"))
		if got := g.match(&res); got != want {
			t.Fatalf("%q vs %q: got %v, reference %v", p, r, got, want)
		}
	})
}

// randomPattern and randomResource draw from a tiny alphabet so that
// matches and near-misses are frequent.
func randomPattern(rng *rand.Rand) string {
	n := 1 + rng.IntN(4)
	segs := make([]string, n)
	for i := range segs {
		switch rng.IntN(6) {
		case 0:
			segs[i] = "**"
		case 1:
			segs[i] = "*"
		case 2:
			segs[i] = []string{"a*", "*b", "a*b"}[rng.IntN(3)]
		default:
			segs[i] = []string{"a", "b", "ab"}[rng.IntN(3)]
		}
	}
	return strings.Join(segs, "/")
}

func randomResource(rng *rand.Rand) string {
	n := 1 + rng.IntN(5)
	segs := make([]string, n)
	for i := range segs {
		segs[i] = []string{"a", "b", "ab", "ba", "aab"}[rng.IntN(5)]
	}
	return strings.Join(segs, "/")
}

// TestGlobCoversSound: whenever covers says that p includes c, every
// sampled resource c matches, p matches; and covers is reflexive.
func TestGlobCoversSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	resources := make([]resource, 400)
	for i := range resources {
		splitResource(randomResource(rng), &resources[i])
	}
	trues := 0
	for range 3000 {
		ps, cs := randomPattern(rng), randomPattern(rng)
		p, _ := compileGlob(ps)
		c, _ := compileGlob(cs)
		if !c.covers(c) {
			t.Fatalf("%q does not cover itself", cs)
		}
		if p.disjoint(c) != c.disjoint(p) {
			t.Fatalf("disjoint not symmetric: %q %q", ps, cs)
		}
		cov, dis := p.covers(c), p.disjoint(c)
		if cov {
			trues++
		}
		for i := range resources {
			r := &resources[i]
			mc, mp := c.match(r), p.match(r)
			if cov && mc && !mp {
				t.Fatalf("covers(%q, %q) but %q matches only the child", ps, cs, r.text)
			}
			if dis && mc && mp {
				t.Fatalf("disjoint(%q, %q) but both match %q", ps, cs, r.text)
			}
		}
	}
	if trues < 100 {
		t.Fatalf("only %d inclusions found: the sampling is too weak to test anything", trues)
	}
}

func TestGlobCoversTable(t *testing.T) {
	tests := []struct {
		p, c string
		want bool
	}{
		{"**", "a/b/**", true},
		{"a/**", "a/b/**", true},
		{"a/**", "a", true},
		{"a/**", "b/**", false},
		{"a/*", "a/b", true},
		{"a/*", "a/*", true},
		{"a/*", "a/**", false},
		{"a/**/z", "a/b/**/z", true},
		{"a/**/z", "a/b/**", false},
		{"*.pdf", "x*.pdf", true},
		{"x*", "x*y*z", true},
		{"*x*", "ax*", false}, // multi-star parents are compared only for identity
		{"a/b", "a/*", false},
		{"**/x", "x", true},
		{"**/x", "a/**/x", true},
	}
	for _, tt := range tests {
		p, _ := compileGlob(tt.p)
		c, _ := compileGlob(tt.c)
		if got := p.covers(c); got != tt.want {
			t.Errorf("covers(%q, %q) = %v", tt.p, tt.c, got)
		}
	}
}

func TestGlobLongInputsAreFast(t *testing.T) {
	// 64 segments against patterns built to make a backtracking matcher
	// explode; the whole table must run in well under a second.
	req := strings.Repeat("a/", 63) + "b"
	for _, p := range []string{
		strings.Repeat("**/", 30) + "c",
		strings.Repeat("**/a/", 20) + "c",
		"**/" + strings.Repeat("*a*/", 30) + "c/**",
		strings.Repeat("*a*a*a*a*a*a*a*a*c/", 10) + "**",
	} {
		if globMatch(t, p, req) {
			t.Fatalf("%q matched", p)
		}
	}
	long := strings.Repeat("a", 1000) + "b"
	if globMatch(t, strings.Repeat("*a", 10)+"*c", long) {
		t.Fatal("matched")
	}
}
