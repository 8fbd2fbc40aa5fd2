package scope

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSubset(t *testing.T) {
	parent := `[
 {"id":"no-home","effect":"deny","actions":["calendar"],"resources":["calendar/home/**"]},
 {"id":"cal","effect":"allow","actions":["calendar"],"resources":["calendar/**"],"counterparties":["contacts","` + didBob + `"]},
 {"id":"pay","effect":"allow","actions":["payment/send"],"resources":["wallet/*"],"counterparties":["contacts"],
  "constraints":[{"arg":"amount","op":"<=","value":100},{"arg":"currency","op":"in","value":["USD","EUR"]},{"arg":"memo","op":"prefix","value":"inv-"}],
  "notBefore":"2026-01-01T00:00:00Z","notAfter":"2027-01-01T00:00:00Z","outside":"escalate"},
 {"id":"notes","effect":"allow","actions":["notes"],"resources":["notes/**"]}
]`
	pay := func(cons string, extra string) string {
		return `{"id":"p","effect":"allow","actions":["payment/send"],"resources":["wallet/main"],"counterparties":["contacts"],"constraints":[` + cons + `],"notBefore":"2026-02-01T00:00:00Z","notAfter":"2026-03-01T00:00:00Z"` + extra + `}`
	}
	const okCons = `{"arg":"amount","op":"<","value":50},{"arg":"currency","op":"==","value":"USD"},{"arg":"memo","op":"prefix","value":"inv-2026"}`
	noHome := `{"id":"no-home","effect":"deny","actions":["calendar"],"resources":["calendar/home/**"]}`
	tests := []struct {
		name  string
		child string
		ok    bool
		why   string // substring of the reason
	}{
		{"empty child", `[]`, true, ""},
		{"parent itself", parent, true, ""},
		{"narrower payment", `[` + pay(okCons, "") + `]`, true, ""},
		{"narrower payment with in-subset", `[` + pay(`{"arg":"amount","op":"==","value":7.5},{"arg":"currency","op":"in","value":["EUR"]},{"arg":"memo","op":"==","value":"inv-1"}`, "") + `]`, true, ""},
		{"escalation kept", `[` + pay(okCons, `,"outside":"escalate"`) + `]`, true, ""},
		{"amount bound wider", `[` + pay(`{"arg":"amount","op":"<=","value":100.01},{"arg":"currency","op":"==","value":"USD"},{"arg":"memo","op":"prefix","value":"inv-"}`, "") + `]`, false, "amount <= 100 is not implied"},
		{"constraint dropped", `[` + pay(`{"arg":"amount","op":"<","value":50},{"arg":"currency","op":"==","value":"USD"}`, "") + `]`, false, "memo prefix"},
		{"currency widened", `[` + pay(`{"arg":"amount","op":"<","value":50},{"arg":"currency","op":"in","value":["USD","GBP"]},{"arg":"memo","op":"prefix","value":"inv-"}`, "") + `]`, false, "currency in"},
		{"window wider", `[{"effect":"allow","actions":["payment/send"],"resources":["wallet/main"],"counterparties":["contacts"],"constraints":[` + okCons + `]}]`, false, "narrower validity window"},
		{"resource wider", `[{"effect":"allow","actions":["notes"],"resources":["**"]}]`, false, "resources"},
		{"action wider", `[{"effect":"allow","actions":["payment"],"resources":["wallet/main"]}]`, false, "covered by no parent allow scope"},
		{"star action", `[{"effect":"allow","actions":["*"],"resources":["notes/a"]}]`, false, "covered by no parent allow scope"},
		{"counterparty added", `[{"effect":"allow","actions":["notes/read"],"resources":["notes/a"],"counterparties":["contacts"]}]`, false, "counterparties"},
		{"DID not covered by contacts", `[` + noHome + `,{"effect":"allow","actions":["calendar/read"],"resources":["calendar/work/**"],"counterparties":["` + didCarol + `"]}]`, false, "counterparties"},
		{"listed DID kept", `[` + noHome + `,{"effect":"allow","actions":["calendar/read"],"resources":["calendar/work/**"],"counterparties":["` + didBob + `"]}]`, true, ""},
		{"deny dropped but no overlap", `[{"effect":"allow","actions":["calendar/read"],"resources":["calendar/work/**"],"counterparties":["contacts"]}]`, true, ""},
		{"child deny limited to counterparties does not cover", `[{"effect":"deny","actions":["calendar"],"resources":["calendar/home/**"],"counterparties":["contacts"]},{"effect":"allow","actions":["calendar/read"],"resources":["calendar/**"],"counterparties":["contacts"]}]`, false, "no-home"},
		{"deny dropped and overlap", `[{"effect":"allow","actions":["calendar/read"],"resources":["calendar/**"],"counterparties":["contacts"]}]`, false, "parent deny scope \"no-home\""},
		{"deny kept wider", `[{"effect":"deny","actions":["calendar"],"resources":["calendar/h*/**"]},{"effect":"allow","actions":["calendar/read"],"resources":["calendar/**"],"counterparties":["contacts"]}]`, true, ""},
		{"deny kept narrower", `[{"effect":"deny","actions":["calendar/read"],"resources":["calendar/home/**"]},{"effect":"allow","actions":["calendar"],"resources":["calendar/**"],"counterparties":["contacts"]}]`, false, "no-home"},
		{"escalation added", `[{"effect":"allow","actions":["notes/read"],"resources":["notes/a"],"outside":"escalate"}]`, false, "escalates action"},
		{"escalating child vs parent deny", `[{"effect":"allow","actions":["calendar/read"],"resources":["calendar/work"],"counterparties":["contacts"],"outside":"escalate"}]`, false, "escalat"},
	}
	p := mustSet(t, parent)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := Subset(mustSet(t, tt.child), p)
			if ok != tt.ok || !strings.Contains(why, tt.why) || ok && why != "" {
				t.Fatalf("got %v %q, want %v %q", ok, why, tt.ok, tt.why)
			}
		})
	}
}

func TestSubsetDenyConstraints(t *testing.T) {
	parent := mustSet(t, `[{"effect":"allow","actions":["pay"],"resources":["**"]},{"id":"big","effect":"deny","actions":["pay"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":1000}]}]`)
	tests := []struct {
		name, child string
		ok          bool
	}{
		{"child denies more", `[{"effect":"allow","actions":["pay"],"resources":["**"]},{"effect":"deny","actions":["pay"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":500}]}]`, true},
		{"child denies less", `[{"effect":"allow","actions":["pay"],"resources":["**"]},{"effect":"deny","actions":["pay"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":2000}]}]`, false},
		{"child deny has no constraint", `[{"effect":"allow","actions":["pay"],"resources":["a"]},{"effect":"deny","actions":["pay"],"resources":["**"]}]`, true},
		{"child allow excludes the deny", `[{"effect":"allow","actions":["pay"],"resources":["**"],"constraints":[{"arg":"amount","op":"<=","value":1000}]}]`, true},
		{"child allow touches the deny", `[{"effect":"allow","actions":["pay"],"resources":["**"],"constraints":[{"arg":"amount","op":"<=","value":1000.5}]}]`, false},
		// in [..] and == cross rules are valid for allow scopes only: a
		// deny scope's undefined arguments make it apply.
		{"deny ne does not cover deny gt", `[{"effect":"allow","actions":["pay"],"resources":["**"]},{"effect":"deny","actions":["pay"],"resources":["**"],"constraints":[{"arg":"amount","op":"!=","value":5}]}]`, false},
	}
	for _, tt := range tests {
		if ok, why := Subset(mustSet(t, tt.child), parent); ok != tt.ok {
			t.Errorf("%s: got %v %q", tt.name, ok, why)
		}
	}
}

// TestSubsetProperty: whenever Subset says true, no sampled request is
// allowed by the child and not by the parent, and none is escalated by the
// child and denied by the parent.
func TestSubsetProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	reqs := make([]Request, 1000)
	for i := range reqs {
		reqs[i] = randomRequest(rng)
	}
	trues, allowedChecks := 0, 0
	for iter := 0; iter < 3000; iter++ {
		parentScopes := randomScopes(rng, 1+rng.IntN(4))
		parent := MustCompile(parentScopes)
		var childScopes []Scope
		if iter%2 == 0 {
			childScopes = narrow(rng, parentScopes)
		} else {
			childScopes = randomScopes(rng, 1+rng.IntN(3))
		}
		child := MustCompile(childScopes)
		ok, _ := Subset(child, parent)
		if !ok {
			continue
		}
		trues++
		for _, r := range reqs {
			cd, pd := child.Evaluate(r), parent.Evaluate(r)
			if cd.Effect == Allow {
				allowedChecks++
				if pd.Effect != Allow {
					t.Fatalf("Subset true, but child allows and parent says %s\nchild %s\nparent %s\nrequest %+v", pd, marshalT(t, childScopes), marshalT(t, parentScopes), r)
				}
			}
			if cd.Effect == Escalate && pd.Effect == Deny {
				t.Fatalf("Subset true, but child escalates and parent denies: %s\nchild %s\nparent %s\nrequest %+v", pd, marshalT(t, childScopes), marshalT(t, parentScopes), r)
			}
		}
	}
	if trues < 300 || allowedChecks < 5000 {
		t.Fatalf("weak sample: %d subsets, %d allowed requests checked", trues, allowedChecks)
	}
	t.Logf("%d subsets, %d allowed requests checked", trues, allowedChecks)
}

func marshalT(t *testing.T, s []Scope) string {
	b, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	instants = []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC),
	}
	actionPool  = []string{"a", "a/b", "a/c", "b", "*"}
	reqActions  = []string{"a", "a/b", "a/c", "a/b/d", "b", "b/x", "c"}
	numberPool  = []string{"-1", "0", "5", "10", "10.5", "50", "100", "150"}
	stringPool  = []string{"x", "y", "xy", "z"}
	cpPool      = [][]string{nil, nil, {Contacts}, {didBob}, {Contacts, didBob}, {didCarol}}
	opsNumeric  = []Op{OpLt, OpLe, OpGt, OpGe, OpEq, OpNe}
	opsStringly = []Op{OpEq, OpNe, OpIn, OpNotIn, OpPrefix}
)

func randNum(rng *rand.Rand) Value {
	n, _ := ParseNumber(numberPool[rng.IntN(len(numberPool))])
	return NumberValue(n)
}

func randomConstraint(rng *rand.Rand) Constraint {
	if rng.IntN(2) == 0 {
		op := opsNumeric[rng.IntN(len(opsNumeric))]
		if rng.IntN(4) == 0 {
			op = []Op{OpIn, OpNotIn}[rng.IntN(2)]
			return Constraint{Arg: "n", Op: op, Value: ListValue(randNum(rng), randNum(rng))}
		}
		return Constraint{Arg: "n", Op: op, Value: randNum(rng)}
	}
	op := opsStringly[rng.IntN(len(opsStringly))]
	str := func() Value { return StringValue(stringPool[rng.IntN(len(stringPool))]) }
	switch op {
	case OpIn, OpNotIn:
		items := []Value{str()}
		if rng.IntN(2) == 0 {
			items = append(items, str())
		}
		return Constraint{Arg: "s", Op: op, Value: ListValue(items...)}
	}
	return Constraint{Arg: "s", Op: op, Value: str()}
}

func randomScope(rng *rand.Rand) Scope {
	s := Scope{Effect: Allow}
	if rng.IntN(4) == 0 {
		s.Effect = Deny
	}
	for range 1 + rng.IntN(2) {
		s.Actions = append(s.Actions, actionPool[rng.IntN(len(actionPool))])
	}
	for range 1 + rng.IntN(2) {
		s.Resources = append(s.Resources, randomPattern(rng))
	}
	s.Counterparties = cpPool[rng.IntN(len(cpPool))]
	for range rng.IntN(3) {
		s.Constraints = append(s.Constraints, randomConstraint(rng))
	}
	if rng.IntN(3) == 0 {
		i := rng.IntN(len(instants) - 1)
		s.NotBefore = instants[i]
		if rng.IntN(2) == 0 {
			s.NotAfter = instants[i+1+rng.IntN(len(instants)-1-i)]
		}
	} else if rng.IntN(3) == 0 {
		s.NotAfter = instants[1+rng.IntN(len(instants)-1)]
	}
	if s.Effect == Allow && rng.IntN(3) == 0 {
		s.Outside = OutsideEscalate
	}
	return s
}

func randomScopes(rng *rand.Rand, n int) []Scope {
	out := make([]Scope, n)
	for i := range out {
		out[i] = randomScope(rng)
	}
	return out
}

// narrow derives a child from a parent by copying its deny scopes and
// narrowing some of its allow scopes in ways Subset should recognize (and
// sometimes widening one, which Subset must then refuse or be right).
func narrow(rng *rand.Rand, parent []Scope) []Scope {
	var out []Scope
	for _, p := range parent {
		if p.Effect == Deny {
			if rng.IntN(5) != 0 {
				out = append(out, p)
			}
			continue
		}
		if rng.IntN(3) == 0 {
			continue
		}
		c := p
		c.Actions = append([]string(nil), p.Actions...)
		c.Resources = append([]string(nil), p.Resources...)
		c.Constraints = append([]Constraint(nil), p.Constraints...)
		switch rng.IntN(6) {
		case 0:
			if c.Actions[0] != "*" {
				c.Actions[0] += "/x"
			}
		case 1:
			c.Resources[0] = strings.TrimSuffix(c.Resources[0], "/**") + "/a"
			if patternProblem(c.Resources[0]) != "" {
				c.Resources[0] = p.Resources[0]
			}
		case 2:
			c.Constraints = append(c.Constraints, randomConstraint(rng))
		case 3:
			c.Constraints = append(c.Constraints, Constraint{Arg: "n", Op: OpLe, Value: randNum(rng)})
		case 4:
			c.Outside = ""
		case 5:
			c = randomScope(rng) // a wider one, maybe
		}
		out = append(out, c)
	}
	return out
}

func randomRequest(rng *rand.Rand) Request {
	r := Request{
		Action:   reqActions[rng.IntN(len(reqActions))],
		Resource: randomResource(rng),
		Time:     instants[rng.IntN(len(instants))].Add(time.Duration(rng.IntN(3)-1) * time.Hour),
		Args:     map[string]Value{},
	}
	switch rng.IntN(4) {
	case 1:
		r.Counterparty, r.CounterpartyIsContact = didBob, rng.IntN(2) == 0
	case 2:
		r.Counterparty, r.CounterpartyIsContact = didCarol, rng.IntN(2) == 0
	}
	switch rng.IntN(6) {
	case 0:
	case 1:
		r.Args["n"] = StringValue("5")
	case 2:
		r.Args["n"] = ListValue(randNum(rng), randNum(rng))
	default:
		r.Args["n"] = randNum(rng)
	}
	switch rng.IntN(6) {
	case 0:
	case 1:
		r.Args["s"] = IntValue(3)
	case 2:
		r.Args["s"] = ListValue(StringValue(stringPool[rng.IntN(4)]))
	default:
		r.Args["s"] = StringValue(stringPool[rng.IntN(len(stringPool))])
	}
	return r
}

func TestSubsetScopes(t *testing.T) {
	good := mustParse(t, `[{"effect":"allow","actions":["a"],"resources":["x/**"]}]`)
	narrow := mustParse(t, `[{"effect":"allow","actions":["a/b"],"resources":["x/y"]}]`)
	bad := []Scope{{Effect: Allow, Actions: []string{"a"}, Resources: []string{"../x"}}}
	if ok, why := SubsetScopes(narrow, good); !ok {
		t.Fatal(why)
	}
	if ok, why := SubsetScopes(bad, good); ok || !strings.HasPrefix(why, "child: scope_resource_invalid") {
		t.Fatalf("%v %s", ok, why)
	}
	if ok, why := SubsetScopes(narrow, bad); ok || !strings.HasPrefix(why, "parent: scope_resource_invalid") {
		t.Fatalf("%v %s", ok, why)
	}
	// Compile copies: changing the caller's list does not change the Set.
	set := MustCompile(good)
	good[0].Resources[0] = "**"
	if d := set.Evaluate(Request{Action: "a", Resource: "z"}); d.Effect != Deny {
		t.Fatalf("%s", d)
	}
}
