package scope

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Request is one action to decide. Counterparty is the DID of the other
// owner, or "" when the action has none; CounterpartyIsContact says whether
// that owner is a live contact of the delegating owner (the caller looks it
// up: evaluation does no I/O). Time is the decision time (the caller's
// clock). Args absent from the map are missing arguments.
type Request struct {
	Action                string
	Resource              string
	Counterparty          string
	CounterpartyIsContact bool
	Args                  map[string]Value
	Time                  time.Time
}

// Reason is the stable code of a Decision.
type Reason string

// Decision reasons.
const (
	ReasonAllowed                Reason = "allowed_by_scope"         // an allow scope matched
	ReasonDenied                 Reason = "denied_by_scope"          // a deny scope matched (deny wins)
	ReasonNoScope                Reason = "no_scope"                 // no allow scope covers the action
	ReasonResourceNotMatched     Reason = "resource_not_matched"     // closest miss: the action is covered, the resource is not
	ReasonCounterpartyNotAllowed Reason = "counterparty_not_allowed" // closest miss: action and resource matched, the counterparty did not
	ReasonConstraintFailed       Reason = "constraint_failed"        // closest miss: a constraint failed (the detail names it)
	ReasonNotYetValid            Reason = "scope_not_yet_valid"      // closest miss: everything matched, before notBefore
	ReasonExpired                Reason = "scope_expired"            // closest miss: everything matched, at or after notAfter
	ReasonActionInvalid          Reason = "action_invalid"           // the request's action is not of the grammar
	ReasonResourceInvalid        Reason = "resource_invalid"         // the request's resource is not valid (traversal, empty segment, ...)
	ReasonCounterpartyInvalid    Reason = "counterparty_invalid"     // the request's counterparty is not a bare DID
	ReasonScopesInvalid          Reason = "scopes_invalid"           // Evaluate was given a list that does not validate
)

// AllReasons lists every decision reason, for documentation tests.
var AllReasons = []Reason{ReasonAllowed, ReasonDenied, ReasonNoScope, ReasonResourceNotMatched,
	ReasonCounterpartyNotAllowed, ReasonConstraintFailed, ReasonNotYetValid, ReasonExpired,
	ReasonActionInvalid, ReasonResourceInvalid, ReasonCounterpartyInvalid, ReasonScopesInvalid}

// Decision is the outcome of an evaluation. Scope names the deciding scope
// (its id, or "#<index>" in the list), "" when none decided. For an
// escalation, Reason and Detail say why the escalating scope did not allow.
type Decision struct {
	Effect Effect
	Scope  string
	Reason Reason
	Detail string
}

// MaxDecisionLen bounds Decision.String, which goes into a log entry.
const MaxDecisionLen = 4096

// String is the decision as one line for a log entry's reason, at most
// MaxDecisionLen bytes of valid UTF-8:
//
//	allow by scope "work-calendar"
//	escalate by scope "pay": constraint_failed: scope "pay" amount <= 100 (got 250)
//	deny: constraint_failed: scope "pay" amount <= 100 (got 250)
func (d Decision) String() string {
	var s string
	switch d.Effect {
	case Allow:
		s = "allow by scope " + strconv.Quote(d.Scope)
	case Escalate:
		s = "escalate by scope " + strconv.Quote(d.Scope) + ": " + string(d.Reason)
	default:
		s = "deny: " + string(d.Reason)
	}
	if d.Effect != Allow && d.Detail != "" {
		s += ": " + d.Detail
	}
	return truncate(s, MaxDecisionLen)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n - len("…")
	for k > 0 && !utf8.RuneStart(s[k]) {
		k--
	}
	return s[:k] + "…"
}

// Set is a compiled, validated scope list, safe for concurrent use.
type Set struct {
	scopes []Scope
	all    []compiled // in list order
	allow  []*compiled
	deny   []*compiled
}

type compiled struct {
	index      int
	name       string // id, or "#<index>"
	quoted     string // name, quoted for details
	src        *Scope
	allActions bool
	actions    []string
	resources  []*glob
	cpAbsent   bool
	cpContacts bool
	cpDIDs     []string
	cons       []Constraint
	nb, na     time.Time // zero: no bound
	escalate   bool
}

// Compile validates scopes and compiles them for evaluation. The Set keeps
// its own copy of the list (list values inside constraints are shared, and
// are never modified).
func Compile(scopes []Scope) (*Set, error) {
	if err := Validate(scopes); err != nil {
		return nil, err
	}
	s := &Set{scopes: make([]Scope, len(scopes)), all: make([]compiled, len(scopes))}
	for i, sc := range scopes {
		// A deep copy, so that a caller changing its list later cannot
		// change what the Set decides.
		sc.Actions = slices.Clone(sc.Actions)
		sc.Resources = slices.Clone(sc.Resources)
		sc.Counterparties = slices.Clone(sc.Counterparties)
		sc.Constraints = slices.Clone(sc.Constraints)
		s.scopes[i] = sc
	}
	for i := range s.scopes {
		src := &s.scopes[i]
		c := &s.all[i]
		c.index, c.src = i, src
		c.name = src.ID
		if c.name == "" {
			c.name = "#" + strconv.Itoa(i)
		}
		c.quoted = strconv.Quote(c.name)
		for _, a := range src.Actions {
			if a == "*" {
				c.allActions = true
			}
		}
		c.actions = src.Actions
		for _, p := range src.Resources {
			g, err := compileGlob(p)
			if err != nil { // Validate checked it; kept for safety
				return nil, fail(CodeResourceInvalid, i, "resources", "%v", err)
			}
			c.resources = append(c.resources, g)
		}
		c.cpAbsent = src.Counterparties == nil
		for _, cp := range src.Counterparties {
			if cp == Contacts {
				c.cpContacts = true
			} else {
				c.cpDIDs = append(c.cpDIDs, cp)
			}
		}
		c.cons = src.Constraints
		c.nb, c.na = src.NotBefore, src.NotAfter
		c.escalate = src.Outside == OutsideEscalate
		if src.Effect == Deny {
			s.deny = append(s.deny, c)
		} else {
			s.allow = append(s.allow, c)
		}
	}
	return s, nil
}

// MustCompile is Compile for lists known to be valid (tests, examples).
func MustCompile(scopes []Scope) *Set {
	s, err := Compile(scopes)
	if err != nil {
		panic(err)
	}
	return s
}

// Scopes returns the list the Set was compiled from. The caller must not
// modify it.
func (s *Set) Scopes() []Scope { return s.scopes }

// Evaluate compiles scopes and evaluates req; a list that does not
// validate denies everything (scopes_invalid). Compile once and call
// Set.Evaluate on a hot path.
func Evaluate(scopes []Scope, req Request) Decision {
	s, err := Compile(scopes)
	if err != nil {
		return Decision{Effect: Deny, Reason: ReasonScopesInvalid, Detail: truncate(err.Error(), 512)}
	}
	return s.Evaluate(req)
}

// stage is how far a request got through an allow scope's checks; a later
// stage is a closer miss.
type stage uint8

const (
	stageAction stage = iota
	stageResource
	stageCounterparty
	stageConstraint
	stageTime
	stageMatched
)

// tri is a constraint's outcome: an argument that is missing, or of a kind
// the operator does not take, is undefined, which fails an allow scope's
// constraint and satisfies a deny scope's (fail closed both ways).
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUndef
)

// Evaluate decides req: a request that is not well-formed is denied; a
// matching deny scope denies; a matching allow scope allows; otherwise the
// first allow scope that covers the action and escalates escalates, and
// the rest is denied with the reason of the closest miss. It does not
// allocate when the request is allowed.
func (s *Set) Evaluate(req Request) Decision {
	if p := actionProblem(req.Action); p != "" {
		return Decision{Effect: Deny, Reason: ReasonActionInvalid, Detail: "action " + quote(req.Action) + ": " + p}
	}
	var res resource
	if p := splitResource(req.Resource, &res); p != "" {
		return Decision{Effect: Deny, Reason: ReasonResourceInvalid, Detail: "resource " + quote(req.Resource) + ": " + p}
	}
	if req.Counterparty != "" {
		if p := didProblem(req.Counterparty); p != "" {
			return Decision{Effect: Deny, Reason: ReasonCounterpartyInvalid, Detail: "counterparty " + quote(req.Counterparty) + ": " + p}
		}
	}
	for _, c := range s.deny {
		if c.matchDeny(&req, &res) {
			return Decision{Effect: Deny, Scope: c.name, Reason: ReasonDenied, Detail: "scope " + c.quoted + " denies " + quote(req.Action) + " on " + quote(req.Resource)}
		}
	}
	var best *compiled
	bestStage, bestCons := stageAction, -1
	for _, c := range s.allow {
		st, ci := c.check(&req, &res)
		if st == stageMatched {
			return Decision{Effect: Allow, Scope: c.name, Reason: ReasonAllowed}
		}
		if best == nil || st > bestStage {
			best, bestStage, bestCons = c, st, ci
		}
	}
	var miss Decision
	if best == nil || bestStage == stageAction {
		miss = Decision{Effect: Deny, Reason: ReasonNoScope, Detail: "no scope covers action " + quote(req.Action)}
	} else {
		miss = best.missDecision(&req, bestStage, bestCons)
	}
	for _, c := range s.allow {
		if c.escalate && c.coversAction(req.Action) {
			miss.Effect, miss.Scope = Escalate, c.name
			return miss
		}
	}
	return miss
}

func quote(s string) string { return strconv.Quote(clip(s)) }

// coversAction: "*" covers every action, "a/b" covers "a/b" and "a/b/...".
func (c *compiled) coversAction(a string) bool {
	if c.allActions {
		return true
	}
	for _, x := range c.actions {
		if actionCovers(x, a) {
			return true
		}
	}
	return false
}

func actionCovers(x, a string) bool {
	if x == "*" {
		return true
	}
	return a == x || len(a) > len(x) && a[len(x)] == '/' && a[:len(x)] == x
}

func (c *compiled) matchResource(r *resource) bool {
	for _, g := range c.resources {
		if g.match(r) {
			return true
		}
	}
	return false
}

func (c *compiled) matchCounterparty(req *Request) bool {
	if req.Counterparty == "" {
		return c.cpAbsent
	}
	if c.cpAbsent {
		return false
	}
	if c.cpContacts && req.CounterpartyIsContact {
		return true
	}
	for _, d := range c.cpDIDs {
		if d == req.Counterparty {
			return true
		}
	}
	return false
}

// timeStage returns stageMatched inside [notBefore, notAfter), or
// stageTime outside.
func (c *compiled) inWindow(t time.Time) bool {
	return (c.nb.IsZero() || !t.Before(c.nb)) && (c.na.IsZero() || t.Before(c.na))
}

// matchDeny: a deny scope without counterparties applies whatever the
// counterparty (fail closed); with them, as an allow scope would.
func (c *compiled) matchDeny(req *Request, r *resource) bool {
	if !c.coversAction(req.Action) || !c.matchResource(r) || !(c.cpAbsent || c.matchCounterparty(req)) || !c.inWindow(req.Time) {
		return false
	}
	for i := range c.cons {
		v, ok := req.Args[c.cons[i].Arg]
		if evalConstraint(&c.cons[i], v, ok) == triFalse {
			return false
		}
	}
	return true
}

// check runs an allow scope's checks in order and returns the stage
// reached, and the failing constraint's index at stageConstraint.
func (c *compiled) check(req *Request, r *resource) (stage, int) {
	if !c.coversAction(req.Action) {
		return stageAction, -1
	}
	if !c.matchResource(r) {
		return stageResource, -1
	}
	if !c.matchCounterparty(req) {
		return stageCounterparty, -1
	}
	for i := range c.cons {
		v, ok := req.Args[c.cons[i].Arg]
		if evalConstraint(&c.cons[i], v, ok) != triTrue {
			return stageConstraint, i
		}
	}
	if !c.inWindow(req.Time) {
		return stageTime, -1
	}
	return stageMatched, -1
}

func (c *compiled) missDecision(req *Request, st stage, ci int) Decision {
	d := Decision{Effect: Deny, Scope: c.name}
	switch st {
	case stageResource:
		d.Reason = ReasonResourceNotMatched
		d.Detail = "scope " + c.quoted + " does not match resource " + quote(req.Resource)
	case stageCounterparty:
		d.Reason = ReasonCounterpartyNotAllowed
		switch {
		case req.Counterparty == "":
			d.Detail = "scope " + c.quoted + " requires a counterparty"
		case c.cpAbsent:
			d.Detail = "scope " + c.quoted + " allows no counterparty, got " + quote(req.Counterparty)
		default:
			d.Detail = "scope " + c.quoted + " does not allow counterparty " + quote(req.Counterparty)
			if c.cpContacts {
				d.Detail += " (not a contact)"
			}
		}
	case stageConstraint:
		d.Reason = ReasonConstraintFailed
		k := &c.cons[ci]
		v, ok := req.Args[k.Arg]
		got := "missing"
		if ok {
			got = "got " + truncate(v.String(), 128)
			if evalConstraint(k, v, true) == triUndef {
				got += ", a " + v.kind.String()
			}
		}
		d.Detail = "scope " + c.quoted + " " + k.Arg + " " + string(k.Op) + " " + truncate(k.Value.String(), 256) + " (" + got + ")"
	case stageTime:
		if !c.nb.IsZero() && req.Time.Before(c.nb) {
			d.Reason = ReasonNotYetValid
			d.Detail = "scope " + c.quoted + " is valid from " + c.nb.UTC().Format(time.RFC3339Nano)
		} else {
			d.Reason = ReasonExpired
			d.Detail = "scope " + c.quoted + " expired at " + c.na.UTC().Format(time.RFC3339Nano)
		}
	}
	return d
}

// evalConstraint applies k to the argument v (present says whether the
// request has it). See spec/scope-language.md, "Constraints".
func evalConstraint(k *Constraint, v Value, present bool) tri {
	if !present {
		return triUndef
	}
	w := k.Value
	switch k.Op {
	case OpEq, OpNe:
		if v.kind != w.kind {
			return triUndef
		}
		eq := v.equalScalar(w)
		return boolTri(eq == (k.Op == OpEq))
	case OpLt, OpLe, OpGt, OpGe:
		if v.kind != KindNumber {
			return triUndef
		}
		c := v.num.Cmp(w.num)
		switch k.Op {
		case OpLt:
			return boolTri(c < 0)
		case OpLe:
			return boolTri(c <= 0)
		case OpGt:
			return boolTri(c > 0)
		}
		return boolTri(c >= 0)
	case OpIn, OpNotIn:
		kind := w.list[0].kind
		want := k.Op == OpIn
		if v.kind == KindList {
			// A list argument: in holds when every item is in the set,
			// not_in when no item is. An empty list, or an item of
			// another kind, is undefined.
			if len(v.list) == 0 {
				return triUndef
			}
			for _, x := range v.list {
				if x.kind != kind {
					return triUndef
				}
			}
			for _, x := range v.list {
				if member(x, w.list) != want {
					return triFalse
				}
			}
			return triTrue
		}
		if v.kind != kind {
			return triUndef
		}
		return boolTri(member(v, w.list) == want)
	case OpPrefix:
		if v.kind != KindString {
			return triUndef
		}
		return boolTri(strings.HasPrefix(v.str, w.str))
	}
	return triUndef
}

func member(x Value, set []Value) bool {
	for _, y := range set {
		if x.equalScalar(y) {
			return true
		}
	}
	return false
}

func boolTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// String is the constraint as text: amount <= 100.
func (k Constraint) String() string {
	return fmt.Sprintf("%s %s %s", k.Arg, k.Op, k.Value)
}
