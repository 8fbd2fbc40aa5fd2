package scope

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParse: whatever parses marshals to a canonical form that parses to
// the same scopes and marshals to the same bytes; refusals carry a code.
func FuzzParse(f *testing.F) {
	for _, s := range goodScopes() {
		f.Add([]byte(s))
	}
	for _, b := range badScopes() {
		if len(b.in) < 4096 {
			f.Add([]byte(b.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse(data)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		out, err := Marshal(sc)
		if err != nil {
			t.Fatalf("parsed scopes do not marshal: %v", err)
		}
		sc2, err := Parse(out)
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", out, err)
		}
		if !reflect.DeepEqual(sc, sc2) {
			t.Fatalf("round trip differs:\n%s\n%s", data, out)
		}
		if out2, _ := Marshal(sc2); !bytes.Equal(out, out2) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
		}
		if _, err := Compile(sc); err != nil {
			t.Fatalf("parsed scopes do not compile: %v", err)
		}
	})
}

// FuzzEvaluate: evaluation of arbitrary requests against arbitrary valid
// lists never panics, returns one of the three effects with a known
// reason, and a bounded, valid UTF-8 String.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(realisticScopes), "payment/send", "wallet/main", didBob, true, []byte(`{"amount":42.5,"currency":"EUR","memo":"inv-1"}`), int64(1780000000))
	f.Add([]byte(realisticScopes), "files/read", "files/work/../personal/x", "", false, []byte(`{}`), int64(0))
	f.Add([]byte(`[{"effect":"allow","actions":["a"],"resources":["**/x/*y*"],"outside":"escalate"}]`), "a/b", "q/x/zyz", "", false, []byte(`{"n":[1,2]}`), int64(-5))
	reasons := map[Reason]bool{}
	for _, r := range AllReasons {
		reasons[r] = true
	}
	f.Fuzz(func(t *testing.T, scopes []byte, action, res, cp string, contact bool, args []byte, unix int64) {
		sc, err := Parse(scopes)
		if err != nil {
			return
		}
		set := MustCompile(sc)
		req := Request{Action: action, Resource: res, Counterparty: cp, CounterpartyIsContact: contact, Time: timeUnix(unix)}
		if n, err := parseJSON(args); err == nil && n.kind == nodeObject {
			req.Args = map[string]Value{}
			for _, m := range n.obj {
				if v, err := valueOf(&m.val, true); err == nil {
					req.Args[m.name] = v
				}
			}
		}
		d := set.Evaluate(req)
		switch d.Effect {
		case Allow, Deny, Escalate:
		default:
			t.Fatalf("effect %q", d.Effect)
		}
		if !reasons[d.Reason] {
			t.Fatalf("reason %q", d.Reason)
		}
		if s := d.String(); len(s) > MaxDecisionLen || !utf8.ValidString(s) {
			t.Fatalf("String: %d bytes", len(s))
		}
		if (d.Effect == Allow) != (d.Reason == ReasonAllowed) {
			t.Fatalf("%+v", d)
		}
	})
}

// FuzzSubset drives the soundness property with fuzzer-chosen seeds.
func FuzzSubset(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(99), uint64(7))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		rng := rand.New(rand.NewPCG(a, b))
		ps := randomScopes(rng, 1+rng.IntN(4))
		var cs []Scope
		if a%2 == 0 {
			cs = narrow(rng, ps)
		} else {
			cs = randomScopes(rng, 1+rng.IntN(3))
		}
		parent, child := MustCompile(ps), MustCompile(cs)
		if ok, _ := Subset(child, parent); !ok {
			return
		}
		for range 200 {
			r := randomRequest(rng)
			cd, pd := child.Evaluate(r), parent.Evaluate(r)
			if cd.Effect == Allow && pd.Effect != Allow || cd.Effect == Escalate && pd.Effect == Deny {
				t.Fatalf("child %s, parent %s\nchild %s\nparent %s\nrequest %+v", cd, pd, marshalT(t, cs), marshalT(t, ps), r)
			}
		}
	})
}
