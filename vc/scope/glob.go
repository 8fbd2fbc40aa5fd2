package scope

import (
	"fmt"
	"strings"
)

// segKind is the kind of one segment of a resource pattern.
type segKind uint8

const (
	segLiteral  segKind = iota // matches itself, byte for byte
	segWild                    // contains "*": each "*" matches any bytes except "/"
	segGlobstar                // "**": zero or more whole segments
)

type segment struct {
	kind  segKind
	lit   string   // the segment text
	parts []string // segWild: the literal parts between the stars (len = stars+1)
}

// glob is a compiled resource pattern. Consecutive "**" segments are
// collapsed into one (same language). Matching anchors the segments before
// the first "**" and after the last one, then finds the blocks of segments
// between globstars greedily, leftmost first: exact for this dialect (like
// "*" in a string), with no backtracking, O(request segments × pattern
// segments) segment tests at worst.
type glob struct {
	text   string
	segs   []segment
	head   int         // segments before the first "**" (len(segs) if none)
	tail   int         // segments after the last "**"
	blocks [][]segment // the runs of non-"**" segments between globstars
	fixed  int         // non-"**" segments: the fewest a match needs
	// Fast paths for the common shapes, decided at compile time.
	literal    bool   // no wildcard: the request equals text
	prefixOnly bool   // literal segments then one trailing "**": request == prefix or starts with prefix+"/"
	prefix     string // for prefixOnly: the text before "/**" ("" when the pattern is "**")
}

func compileGlob(p string) (*glob, error) {
	if prob := patternProblem(p); prob != "" {
		return nil, fmt.Errorf("pattern %q: %s", clip(p), prob)
	}
	g := &glob{text: p}
	wild := 0
	for s := range strings.SplitSeq(p, "/") {
		switch {
		case s == "**":
			if n := len(g.segs); n > 0 && g.segs[n-1].kind == segGlobstar {
				continue
			}
			g.segs = append(g.segs, segment{kind: segGlobstar, lit: s})
			wild++
		case strings.Contains(s, "*"):
			g.segs = append(g.segs, segment{kind: segWild, lit: s, parts: strings.Split(s, "*")})
			wild++
			g.fixed++
		default:
			g.segs = append(g.segs, segment{kind: segLiteral, lit: s})
			g.fixed++
		}
	}
	n := len(g.segs)
	g.head, g.tail = n, 0
	first, last := -1, -1
	for i, s := range g.segs {
		if s.kind == segGlobstar {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first >= 0 {
		g.head, g.tail = first, n-1-last
		var cur []segment
		for _, s := range g.segs[first : last+1] {
			if s.kind == segGlobstar {
				if len(cur) > 0 {
					g.blocks = append(g.blocks, cur)
				}
				cur = nil
				continue
			}
			cur = append(cur, s)
		}
	}
	g.literal = wild == 0
	if wild == 1 && g.segs[n-1].kind == segGlobstar && first == n-1 {
		g.prefixOnly = true
		lits := make([]string, n-1)
		for i := range lits {
			lits[i] = g.segs[i].lit
		}
		g.prefix = strings.Join(lits, "/")
	}
	return g, nil
}

// segMatch reports whether pattern segment s matches request segment r
// (never "**"). A wildcard's literal parts are found greedily left to
// right, which is exact for "*"-only patterns and linear in len(r).
func (s *segment) match(r string) bool {
	switch s.kind {
	case segLiteral:
		return s.lit == r
	case segGlobstar:
		return true
	}
	parts := s.parts
	first, last := parts[0], parts[len(parts)-1]
	if len(r) < len(first)+len(last) || !strings.HasPrefix(r, first) || !strings.HasSuffix(r, last) {
		return false
	}
	mid := r[len(first) : len(r)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		k := strings.Index(mid, p)
		if k < 0 {
			return false
		}
		mid = mid[k+len(p):]
	}
	return true
}

// resource is a validated request resource split into its segments,
// without allocating: the array lives on the caller's stack.
type resource struct {
	text string
	segs [MaxSegments]string
	n    int
}

// splitResource validates a request resource and splits it. A request
// resource follows the pattern rules and holds no "*" at all.
func splitResource(r string, out *resource) string {
	out.text = r
	out.n = 0
	if r == "" {
		return "empty"
	}
	if t := textProblem(r); t != "" {
		return t
	}
	start := 0
	for k := 0; k <= len(r); k++ {
		if k < len(r) && r[k] != '/' {
			if r[k] == '*' {
				return "\"*\" in a request resource"
			}
			continue
		}
		seg := r[start:k]
		switch seg {
		case "":
			return "empty segment (no leading, trailing or double \"/\")"
		case ".", "..":
			return "\".\" or \"..\" segment"
		}
		if out.n == MaxSegments {
			return fmt.Sprintf("more than %d segments", MaxSegments)
		}
		out.segs[out.n] = seg
		out.n++
		start = k + 1
	}
	return ""
}

// match reports whether g matches the request resource r.
func (g *glob) match(r *resource) bool {
	switch {
	case g.literal:
		return g.text == r.text
	case g.prefixOnly:
		if g.prefix == "" {
			return true
		}
		return r.text == g.prefix || len(r.text) > len(g.prefix) && r.text[len(g.prefix)] == '/' && r.text[:len(g.prefix)] == g.prefix
	}
	return g.matchSegs(r.segs[:r.n])
}

func (g *glob) matchSegs(req []string) bool {
	if len(req) < g.fixed {
		return false
	}
	if g.head == len(g.segs) { // no globstar: one segment each
		if len(req) != len(g.segs) {
			return false
		}
		for i := range req {
			if !g.segs[i].match(req[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < g.head; i++ {
		if !g.segs[i].match(req[i]) {
			return false
		}
	}
	for i := 1; i <= g.tail; i++ {
		if !g.segs[len(g.segs)-i].match(req[len(req)-i]) {
			return false
		}
	}
	// The middle starts and ends with "**": each block must occur, in
	// order, without overlap; the leftmost occurrence of each is as good
	// as any other, so no backtracking is needed.
	mid := req[g.head : len(req)-g.tail]
	for _, b := range g.blocks {
		found := false
		for start := 0; start+len(b) <= len(mid); start++ {
			if blockAt(b, mid[start:]) {
				mid = mid[start+len(b):]
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func blockAt(b []segment, req []string) bool {
	for i := range b {
		if !b[i].match(req[i]) {
			return false
		}
	}
	return true
}

// covers reports whether every resource that c matches, g matches too:
// pattern inclusion, sound and conservative. It is a DP over (position in
// c, position in g); a "**" of c is covered only by a "**" of g, and a
// wildcard segment of c only by "*", by an identical segment, or by a
// single-star segment P*S whose P and S it keeps.
func (g *glob) covers(c *glob) bool {
	n, m := len(c.segs), len(g.segs)
	// memo: 0 unknown, 1 true, 2 false
	memo := make([]uint8, (n+1)*(m+1))
	var inc func(i, j int) bool
	inc = func(i, j int) bool {
		k := i*(m+1) + j
		if memo[k] != 0 {
			return memo[k] == 1
		}
		var r bool
		switch {
		case i == n:
			r = true
			for _, s := range g.segs[j:] {
				if s.kind != segGlobstar {
					r = false
					break
				}
			}
		case j == m:
			r = false
		case g.segs[j].kind == segGlobstar:
			// g's "**" absorbs c's segment (or c's whole "**") and stays,
			// or matches nothing more.
			r = inc(i+1, j) || inc(i, j+1)
		case c.segs[i].kind == segGlobstar:
			r = false
		default:
			r = segCovers(&g.segs[j], &c.segs[i]) && inc(i+1, j+1)
		}
		if r {
			memo[k] = 1
		} else {
			memo[k] = 2
		}
		return r
	}
	return inc(0, 0)
}

// segCovers reports whether every segment c matches, p matches (neither a
// globstar).
func segCovers(p, c *segment) bool {
	if c.kind == segLiteral {
		return p.match(c.lit)
	}
	if p.kind == segLiteral {
		return false
	}
	if p.lit == c.lit || p.lit == "*" {
		return true
	}
	if len(p.parts) != 2 {
		return false
	}
	// p is P*S: every string c matches starts with c's first part and ends
	// with its last part, which do not overlap.
	return strings.HasPrefix(c.parts[0], p.parts[0]) && strings.HasSuffix(c.parts[len(c.parts)-1], p.parts[1])
}

// disjoint reports that no resource matches both g and h. It is
// conservative: false means "may overlap". Two patterns are disjoint when,
// aligned from the start or from the end up to the first "**" on either
// side, two literal segments differ, or when neither has a "**" and their
// segment counts differ.
func (g *glob) disjoint(h *glob) bool {
	a, b := g.segs, h.segs
	hasStar := func(s []segment) bool {
		for _, x := range s {
			if x.kind == segGlobstar {
				return true
			}
		}
		return false
	}
	if !hasStar(a) && !hasStar(b) && len(a) != len(b) {
		return true
	}
	clash := func(x, y *segment) bool {
		switch {
		case x.kind == segLiteral && y.kind == segLiteral:
			return x.lit != y.lit
		case x.kind == segLiteral && y.kind == segWild:
			return !y.match(x.lit)
		case x.kind == segWild && y.kind == segLiteral:
			return !x.match(y.lit)
		}
		return false
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].kind == segGlobstar || b[i].kind == segGlobstar {
			break
		}
		if clash(&a[i], &b[i]) {
			return true
		}
	}
	for i := 1; i <= len(a) && i <= len(b); i++ {
		x, y := &a[len(a)-i], &b[len(b)-i]
		if x.kind == segGlobstar || y.kind == segGlobstar {
			break
		}
		if clash(x, y) {
			return true
		}
	}
	return false
}
