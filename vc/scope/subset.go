package scope

import (
	"fmt"
	"slices"
)

// Subset reports whether child is an attenuation of parent: every request
// that child allows, parent allows too and does not deny, and every
// request child escalates, parent escalates or allows. It is sound (true
// only when that holds, for every request and time) and conservative: it
// may say false for a child that is in fact narrower. reason says why not
// ("" when ok). The rule is in spec/scope-language.md, "Subset".
func Subset(child, parent *Set) (ok bool, reason string) {
	for _, c := range child.allow {
		if p := coveringAllow(c, parent); p == nil {
			return false, fmt.Sprintf("child scope %s is covered by no parent allow scope (%s)", c.quoted, whyNotCovered(c, parent))
		}
		if c.escalate {
			for _, a := range c.actions {
				if !slices.ContainsFunc(parent.allow, func(p *compiled) bool { return p.escalate && p.coversAction(a) }) {
					return false, fmt.Sprintf("child scope %s escalates action %q, which no escalating parent scope covers", c.quoted, a)
				}
			}
		}
	}
	for _, d := range parent.deny {
		if slices.ContainsFunc(child.deny, func(cd *compiled) bool { return denyCovers(cd, d) }) {
			continue
		}
		for _, c := range child.allow {
			if !disjointScopes(c, d) {
				return false, fmt.Sprintf("parent deny scope %s may overlap child allow scope %s, and no child deny scope is as wide", d.quoted, c.quoted)
			}
			// A child scope escalates every request of its actions that it
			// does not allow; the parent would deny some of them.
			if c.escalate && actionsOverlap(c, d) {
				return false, fmt.Sprintf("parent deny scope %s shares actions with escalating child scope %s, and no child deny scope is as wide", d.quoted, c.quoted)
			}
		}
	}
	return true, ""
}

// SubsetScopes is Subset on lists not yet compiled; a list that does not
// validate is never a subset (and never a parent of one).
func SubsetScopes(child, parent []Scope) (ok bool, reason string) {
	c, err := Compile(child)
	if err != nil {
		return false, "child: " + err.Error()
	}
	p, err := Compile(parent)
	if err != nil {
		return false, "parent: " + err.Error()
	}
	return Subset(c, p)
}

func coveringAllow(c *compiled, parent *Set) *compiled {
	for _, p := range parent.allow {
		if allowCovers(p, c) {
			return p
		}
	}
	return nil
}

// whyNotCovered names the first check that fails against the parent scope
// that gets furthest, for a reason a person can act on.
func whyNotCovered(c *compiled, parent *Set) string {
	best := "no parent allow scope covers its actions"
	bestStage := 0
	for _, p := range parent.allow {
		st, why := coverStage(p, c)
		if st > bestStage {
			bestStage, best = st, why
		}
	}
	return best
}

func allowCovers(p, c *compiled) bool {
	st, _ := coverStage(p, c)
	return st == 6
}

// coverStage checks that every request allow scope c matches, allow scope
// p matches, and returns how many checks passed (6 = all) and what failed.
func coverStage(p, c *compiled) (int, string) {
	if !actionsCovered(p, c) {
		return 0, "actions"
	}
	if !resourcesCovered(p, c) {
		return 1, "parent scope " + p.quoted + " does not cover its resources"
	}
	if !counterpartiesCovered(p, c) {
		return 2, "parent scope " + p.quoted + " does not cover its counterparties"
	}
	for _, pk := range p.cons {
		if !slices.ContainsFunc(c.cons, func(ck Constraint) bool { return implies(ck, pk, true) }) {
			return 3, "parent scope " + p.quoted + " constraint " + pk.String() + " is not implied by the child's constraints"
		}
	}
	if !windowWithin(c, p) {
		return 4, "parent scope " + p.quoted + " has a narrower validity window"
	}
	return 6, ""
}

func actionsCovered(p, c *compiled) bool {
	for _, a := range c.actions {
		if !p.coversAction(a) {
			return false
		}
	}
	return true
}

func resourcesCovered(p, c *compiled) bool {
	for _, cg := range c.resources {
		if !slices.ContainsFunc(p.resources, func(pg *glob) bool { return pg.covers(cg) }) {
			return false
		}
	}
	return true
}

// counterpartiesCovered: absent only by absent; "contacts" only by
// "contacts"; a DID only by the same DID (a DID is not known to be a
// contact, so parent "contacts" does not cover it).
func counterpartiesCovered(p, c *compiled) bool {
	if c.cpAbsent || p.cpAbsent {
		return c.cpAbsent == p.cpAbsent
	}
	if c.cpContacts && !p.cpContacts {
		return false
	}
	for _, d := range c.cpDIDs {
		if !slices.Contains(p.cpDIDs, d) {
			return false
		}
	}
	return true
}

// windowWithin: inner's validity window lies within outer's.
func windowWithin(inner, outer *compiled) bool {
	if !outer.nb.IsZero() && (inner.nb.IsZero() || inner.nb.Before(outer.nb)) {
		return false
	}
	if !outer.na.IsZero() && (inner.na.IsZero() || inner.na.After(outer.na)) {
		return false
	}
	return true
}

// denyCovers: deny scope w (the child's) matches every request that deny
// scope d (the parent's) matches.
func denyCovers(w, d *compiled) bool {
	if !actionsCovered(w, d) || !resourcesCovered(w, d) {
		return false
	}
	// Every counterparty case d matches, w must match; a deny scope
	// without counterparties matches them all.
	if !w.cpAbsent && (d.cpAbsent || !counterpartiesCovered(w, d)) {
		return false
	}
	// w's constraints must hold (true or undefined) wherever d's do; only
	// same-domain implications are valid there.
	for _, wk := range w.cons {
		if !slices.ContainsFunc(d.cons, func(dk Constraint) bool { return implies(dk, wk, false) }) {
			return false
		}
	}
	return windowWithin(d, w)
}

// disjointScopes: no request matches both allow scope a and deny scope d.
// Conservative.
func disjointScopes(a, d *compiled) bool {
	if !actionsOverlap(a, d) {
		return true
	}
	rOverlap := false
	for _, g := range a.resources {
		for _, h := range d.resources {
			if !g.disjoint(h) {
				rOverlap = true
			}
		}
	}
	if !rOverlap {
		return true
	}
	// Counterparties: d without them matches every case; a without them
	// matches only requests without one, which d with them never matches.
	if !d.cpAbsent && a.cpAbsent {
		return true
	}
	if !d.cpAbsent && !a.cpContacts && !d.cpContacts && !slices.ContainsFunc(a.cpDIDs, func(x string) bool { return slices.Contains(d.cpDIDs, x) }) {
		return true
	}
	// Windows that do not meet.
	if !a.na.IsZero() && !d.nb.IsZero() && !a.na.After(d.nb) || !d.na.IsZero() && !a.nb.IsZero() && !d.na.After(a.nb) {
		return true
	}
	// A constraint of a that, when true, makes one of d's false.
	for _, ak := range a.cons {
		for _, dk := range d.cons {
			if ak.Arg == dk.Arg && excludes(ak, dk) {
				return true
			}
		}
	}
	return false
}

// implies reports that wherever constraint a holds, constraint b holds. In
// allow semantics (both constraints of allow scopes) "holds" means true; in
// deny semantics it means true or undefined, so only implications between
// constraints with the same undefined domain (same operator family, same
// operand kind) are used.
func implies(a, b Constraint, allowSem bool) bool {
	if a.Arg != b.Arg {
		return false
	}
	if a.Op == b.Op && a.Value.Equal(b.Value) {
		return true
	}
	av, bv := a.Value, b.Value
	switch b.Op {
	case OpLt, OpLe, OpGt, OpGe:
		if lo, hi, ok := interval(a); ok && (allowSem || isOrder(a.Op)) {
			return intervalWithin(lo, hi, b)
		}
	case OpIn:
		switch {
		case a.Op == OpIn && sameListKind(av, bv):
			return allIn(av.list, bv.list)
		case a.Op == OpEq && allowSem && av.kind == bv.list[0].kind:
			return member(av, bv.list)
		}
	case OpNotIn:
		switch {
		case a.Op == OpNotIn && sameListKind(av, bv):
			return allIn(bv.list, av.list)
		case a.Op == OpIn && sameListKind(av, bv):
			return noneIn(av.list, bv.list)
		case a.Op == OpEq && allowSem && av.kind == bv.list[0].kind:
			return !member(av, bv.list)
		}
	case OpPrefix:
		switch {
		case a.Op == OpPrefix:
			return len(av.str) >= len(bv.str) && av.str[:len(bv.str)] == bv.str
		case a.Op == OpEq && allowSem && av.kind == KindString:
			return len(av.str) >= len(bv.str) && av.str[:len(bv.str)] == bv.str
		}
	case OpEq:
		// in [v] implies == v only for scalars; a list argument would pass
		// in and fail ==, so no rule here besides identity.
	case OpNe:
		if allowSem && a.Op == OpEq && av.kind == bv.kind {
			return !av.equalScalar(bv)
		}
		if allowSem && bv.kind == KindNumber {
			if lo, hi, ok := interval(a); ok {
				return !inInterval(bv.num, lo, hi)
			}
		}
	}
	return false
}

func isOrder(op Op) bool { return op == OpLt || op == OpLe || op == OpGt || op == OpGe }

func sameListKind(a, b Value) bool {
	return a.kind == KindList && b.kind == KindList && a.list[0].kind == b.list[0].kind
}

func allIn(xs, set []Value) bool {
	for _, x := range xs {
		if !member(x, set) {
			return false
		}
	}
	return true
}

func noneIn(xs, set []Value) bool {
	for _, x := range xs {
		if member(x, set) {
			return false
		}
	}
	return true
}

// bound is one end of a numeric interval; inf means unbounded.
type bound struct {
	n      Number
	strict bool
	inf    bool
}

// interval is the set of numbers where a numeric constraint is true.
func interval(k Constraint) (lo, hi bound, ok bool) {
	if k.Value.kind != KindNumber {
		return lo, hi, false
	}
	n := k.Value.num
	inf := bound{inf: true}
	switch k.Op {
	case OpEq:
		return bound{n: n}, bound{n: n}, true
	case OpLt:
		return inf, bound{n: n, strict: true}, true
	case OpLe:
		return inf, bound{n: n}, true
	case OpGt:
		return bound{n: n, strict: true}, inf, true
	case OpGe:
		return bound{n: n}, inf, true
	}
	return lo, hi, false
}

// intervalWithin: every number in [lo, hi] satisfies the order constraint b.
func intervalWithin(lo, hi bound, b Constraint) bool {
	v := b.Value.num
	switch b.Op {
	case OpLt: // need hi < v
		return !hi.inf && (hi.n.Cmp(v) < 0 || hi.strict && hi.n.Cmp(v) == 0)
	case OpLe:
		return !hi.inf && hi.n.Cmp(v) <= 0
	case OpGt:
		return !lo.inf && (lo.n.Cmp(v) > 0 || lo.strict && lo.n.Cmp(v) == 0)
	case OpGe:
		return !lo.inf && lo.n.Cmp(v) >= 0
	}
	return false
}

func inInterval(v Number, lo, hi bound) bool {
	if !lo.inf {
		c := v.Cmp(lo.n)
		if c < 0 || c == 0 && lo.strict {
			return false
		}
	}
	if !hi.inf {
		c := v.Cmp(hi.n)
		if c > 0 || c == 0 && hi.strict {
			return false
		}
	}
	return true
}

// excludes reports that wherever allow constraint a is true, deny
// constraint d is false (not merely undefined: a true makes the argument
// present and of a's kind).
func excludes(a, d Constraint) bool {
	// a true and d true-or-undefined must be impossible: d false wherever a
	// true. d's negation implied by a, in allow semantics, with d's
	// undefined domain excluded by a being true.
	av, dv := a.Value, d.Value
	switch {
	case isOrder(d.Op) || d.Op == OpEq && dv.kind == KindNumber:
		// a must force a number (numeric constraint) outside d's interval.
		alo, ahi, ok := interval(a)
		if !ok {
			return false
		}
		dlo, dhi, _ := interval(d)
		return intervalsDisjoint(alo, ahi, dlo, dhi)
	case d.Op == OpEq:
		return a.Op == OpEq && av.kind == dv.kind && !av.equalScalar(dv)
	case d.Op == OpIn:
		// a in T with T ∩ S empty, same kind: a true means every item (at
		// least one) is in T, so not all in S.
		if a.Op == OpIn && sameListKind(av, dv) {
			return noneIn(av.list, dv.list)
		}
		if a.Op == OpEq && av.kind == dv.list[0].kind {
			return !member(av, dv.list)
		}
	case d.Op == OpPrefix:
		if a.Op == OpPrefix || a.Op == OpEq && av.kind == KindString {
			// a's strings all start with av.str; none starts with dv.str
			// when neither is a prefix of the other.
			x, y := av.str, dv.str
			n := min(len(x), len(y))
			if a.Op == OpEq {
				return len(x) < len(y) || x[:len(y)] != y
			}
			return x[:n] != y[:n]
		}
	}
	return false
}

func intervalsDisjoint(alo, ahi, dlo, dhi bound) bool {
	// a entirely below d, or entirely above.
	below := func(hi, lo bound) bool {
		if hi.inf || lo.inf {
			return false
		}
		c := hi.n.Cmp(lo.n)
		return c < 0 || c == 0 && (hi.strict || lo.strict)
	}
	return below(ahi, dlo) || below(dhi, alo)
}

// actionsOverlap: some action of a covers, or is covered by, one of d.
func actionsOverlap(a, d *compiled) bool {
	for _, x := range a.actions {
		for _, y := range d.actions {
			if actionCovers(x, y) || actionCovers(y, x) {
				return true
			}
		}
	}
	return false
}
