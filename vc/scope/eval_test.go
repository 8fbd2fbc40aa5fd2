package scope

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEvaluate(t *testing.T) {
	type tc struct {
		name   string
		scopes string
		req    Request
		effect Effect
		reason Reason
		scope  string
		str    string // if set, the exact Decision.String
	}
	cal := `[{"id":"cal","effect":"allow","actions":["calendar"],"resources":["calendar/work/**"]}]`
	pay := `[{"id":"pay","effect":"allow","actions":["payment/send"],"resources":["**"],"counterparties":["contacts"],
	  "constraints":[{"arg":"amount","op":"<=","value":100},{"arg":"currency","op":"==","value":"USD"}]}]`
	payReq := func(amount Value, cur string) Request {
		args := map[string]Value{"currency": StringValue(cur)}
		if amount.Kind() != KindNone {
			args["amount"] = amount
		}
		return Request{Action: "payment/send", Resource: "wallet/main", Counterparty: didBob, CounterpartyIsContact: true, Args: args, Time: t2026}
	}
	r := func(action, resource string) Request { return Request{Action: action, Resource: resource, Time: t2026} }
	tests := []tc{
		// actions
		{"action prefix covers child", cal, r("calendar/read", "calendar/work/a"), Allow, ReasonAllowed, "cal", `allow by scope "cal"`},
		{"action exact", cal, r("calendar", "calendar/work/a"), Allow, ReasonAllowed, "cal", ""},
		{"action prefix is per segment", cal, r("calendars/read", "calendar/work/a"), Deny, ReasonNoScope, "", `deny: no_scope: no scope covers action "calendars/read"`},
		{"no scopes at all", `[]`, r("calendar/read", "calendar/work/a"), Deny, ReasonNoScope, "", ""},
		{"star action", `[{"effect":"allow","actions":["*"],"resources":["x"]}]`, r("any/thing", "x"), Allow, ReasonAllowed, "#0", `allow by scope "#0"`},
		{"request action star refused", cal, r("*", "calendar/work/a"), Deny, ReasonActionInvalid, "", ""},
		{"request action uppercase refused", cal, r("Calendar/read", "calendar/work/a"), Deny, ReasonActionInvalid, "", ""},
		{"request action empty segment", cal, r("calendar//read", "calendar/work/a"), Deny, ReasonActionInvalid, "", ""},
		{"request action trailing slash", cal, r("calendar/", "calendar/work/a"), Deny, ReasonActionInvalid, "", ""},
		// resources: globstar edges
		{"globstar matches zero segments", cal, r("calendar/read", "calendar/work"), Allow, ReasonAllowed, "cal", ""},
		{"globstar many segments", cal, r("calendar/read", "calendar/work/a/b/c/d"), Allow, ReasonAllowed, "cal", ""},
		{"prefix is per segment", cal, r("calendar/read", "calendar/workshop"), Deny, ReasonResourceNotMatched, "cal", `deny: resource_not_matched: scope "cal" does not match resource "calendar/workshop"`},
		{"a/**/b matches a/b", `[{"effect":"allow","actions":["x"],"resources":["a/**/b"]}]`, r("x", "a/b"), Allow, ReasonAllowed, "#0", ""},
		{"a/**/b matches a/1/2/b", `[{"effect":"allow","actions":["x"],"resources":["a/**/b"]}]`, r("x", "a/1/2/b"), Allow, ReasonAllowed, "#0", ""},
		{"a/**/b not a/b/c", `[{"effect":"allow","actions":["x"],"resources":["a/**/b"]}]`, r("x", "a/b/c"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"**/x matches x", `[{"effect":"allow","actions":["x"],"resources":["**/x"]}]`, r("x", "x"), Allow, ReasonAllowed, "#0", ""},
		{"**/x matches a/b/x", `[{"effect":"allow","actions":["x"],"resources":["**/x"]}]`, r("x", "a/b/x"), Allow, ReasonAllowed, "#0", ""},
		{"**/x not x/a", `[{"effect":"allow","actions":["x"],"resources":["**/x"]}]`, r("x", "x/a"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"** alone matches all", `[{"effect":"allow","actions":["x"],"resources":["**"]}]`, r("x", "a/b/c"), Allow, ReasonAllowed, "#0", ""},
		{"leading and trailing **", `[{"effect":"allow","actions":["x"],"resources":["**/mid/**"]}]`, r("x", "mid"), Allow, ReasonAllowed, "#0", ""},
		{"**/**/** matches one segment", `[{"effect":"allow","actions":["x"],"resources":["**/**/**"]}]`, r("x", "a"), Allow, ReasonAllowed, "#0", ""},
		{"star does not cross slash", `[{"effect":"allow","actions":["x"],"resources":["docs/*"]}]`, r("x", "docs/a/b"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"star in segment", `[{"effect":"allow","actions":["x"],"resources":["docs/*.md"]}]`, r("x", "docs/readme.md"), Allow, ReasonAllowed, "#0", ""},
		{"star in segment misses", `[{"effect":"allow","actions":["x"],"resources":["docs/*.md"]}]`, r("x", "docs/readme.txt"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"star matches empty in segment", `[{"effect":"allow","actions":["x"],"resources":["docs/a*b"]}]`, r("x", "docs/ab"), Allow, ReasonAllowed, "#0", ""},
		// traversal: denied, never normalized
		{"dotdot denied", cal, r("calendar/read", "calendar/work/../home/x"), Deny, ReasonResourceInvalid, "", ""},
		{"dot denied", cal, r("calendar/read", "calendar/work/./x"), Deny, ReasonResourceInvalid, "", ""},
		{"leading slash denied", cal, r("calendar/read", "/calendar/work/x"), Deny, ReasonResourceInvalid, "", ""},
		{"trailing slash denied", cal, r("calendar/read", "calendar/work/"), Deny, ReasonResourceInvalid, "", ""},
		{"double slash denied", cal, r("calendar/read", "calendar//work"), Deny, ReasonResourceInvalid, "", ""},
		{"backslash denied", cal, r("calendar/read", `calendar/work\..\home`), Deny, ReasonResourceInvalid, "", ""},
		{"empty resource denied", cal, r("calendar/read", ""), Deny, ReasonResourceInvalid, "", ""},
		{"star in request denied", `[{"effect":"allow","actions":["x"],"resources":["**"]}]`, r("x", "a/*"), Deny, ReasonResourceInvalid, "", ""},
		{"nul denied", cal, r("calendar/read", "calendar/work/a\x00"), Deny, ReasonResourceInvalid, "", ""},
		{"C1 control denied", cal, r("calendar/read", "calendar/work/a\u0085"), Deny, ReasonResourceInvalid, "", ""},
		{"invalid UTF-8 denied", cal, r("calendar/read", "calendar/work/\xff"), Deny, ReasonResourceInvalid, "", ""},
		{"percent-encoded dots are opaque", `[{"effect":"allow","actions":["x"],"resources":["a/%2e%2e"]}]`, r("x", "a/%2e%2e"), Allow, ReasonAllowed, "#0", ""},
		{"percent-encoding not decoded", `[{"effect":"allow","actions":["x"],"resources":["a/b"]}]`, r("x", "a/%62"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"cyrillic a is not latin a", `[{"effect":"allow","actions":["x"],"resources":["files/data"]}]`, r("x", "files/d\u0430ta"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"NFC vs NFD differ", `[{"effect":"allow","actions":["x"],"resources":["caf\u00e9"]}]`, r("x", "cafe\u0301"), Deny, ReasonResourceNotMatched, "#0", ""},
		{"unicode exact matches", `[{"effect":"allow","actions":["x"],"resources":["caf\u00e9/*"]}]`, r("x", "caf\u00e9/\u65e5\u672c"), Allow, ReasonAllowed, "#0", ""},
		{"resource at 64 segments", `[{"effect":"allow","actions":["x"],"resources":["**"]}]`, r("x", strings.Repeat("a/", 63)+"a"), Allow, ReasonAllowed, "#0", ""},
		{"resource over 64 segments", `[{"effect":"allow","actions":["x"],"resources":["**"]}]`, r("x", strings.Repeat("a/", 64)+"a"), Deny, ReasonResourceInvalid, "", ""},
		{"resource at 1024 bytes", `[{"effect":"allow","actions":["x"],"resources":["*"]}]`, r("x", strings.Repeat("a", 1024)), Allow, ReasonAllowed, "#0", ""},
		{"resource over 1024 bytes", `[{"effect":"allow","actions":["x"],"resources":["*"]}]`, r("x", strings.Repeat("a", 1025)), Deny, ReasonResourceInvalid, "", ""},
		// counterparties
		{"no counterparty required", cal, Request{Action: "calendar/read", Resource: "calendar/work", Counterparty: didBob, CounterpartyIsContact: true, Time: t2026}, Deny, ReasonCounterpartyNotAllowed, "cal", ""},
		{"contacts admit a contact", pay, payReq(IntValue(5), "USD"), Allow, ReasonAllowed, "pay", ""},
		{"contacts refuse a stranger", pay, Request{Action: "payment/send", Resource: "w", Counterparty: didBob, Args: payReq(IntValue(5), "USD").Args, Time: t2026}, Deny, ReasonCounterpartyNotAllowed, "pay", ""},
		{"counterparty list requires one", pay, Request{Action: "payment/send", Resource: "w", Args: payReq(IntValue(5), "USD").Args, Time: t2026}, Deny, ReasonCounterpartyNotAllowed, "pay", `deny: counterparty_not_allowed: scope "pay" requires a counterparty`},
		{"DID listed", `[{"effect":"allow","actions":["m"],"resources":["**"],"counterparties":["` + didBob + `"]}]`, Request{Action: "m", Resource: "r", Counterparty: didBob, Time: t2026}, Allow, ReasonAllowed, "#0", ""},
		{"DID not listed", `[{"effect":"allow","actions":["m"],"resources":["**"],"counterparties":["` + didBob + `"]}]`, Request{Action: "m", Resource: "r", Counterparty: didCarol, CounterpartyIsContact: true, Time: t2026}, Deny, ReasonCounterpartyNotAllowed, "#0", ""},
		{"counterparty DID URL refused", pay, Request{Action: "payment/send", Resource: "w", Counterparty: didBob + "#key-1", Time: t2026}, Deny, ReasonCounterpartyInvalid, "", ""},
		// constraints and exact numbers
		{"at the bound", pay, payReq(IntValue(100), "USD"), Allow, ReasonAllowed, "pay", ""},
		{"100.0 equals 100", pay, payReq(num(t, "100.0"), "USD"), Allow, ReasonAllowed, "pay", ""},
		{"1e2 equals 100", pay, payReq(num(t, "1e2"), "USD"), Allow, ReasonAllowed, "pay", ""},
		{"just over the bound", pay, payReq(num(t, "100.0000000001"), "USD"), Deny, ReasonConstraintFailed, "pay", `deny: constraint_failed: scope "pay" amount <= 100 (got 100.0000000001)`},
		{"far over the bound", pay, payReq(IntValue(250), "USD"), Deny, ReasonConstraintFailed, "pay", `deny: constraint_failed: scope "pay" amount <= 100 (got 250)`},
		{"beyond float64 precision", pay, payReq(num(t, "100.00000000000000000000000001"), "USD"), Deny, ReasonConstraintFailed, "pay", ""},
		{"negative is under", pay, payReq(num(t, "-1e3"), "USD"), Allow, ReasonAllowed, "pay", ""},
		{"missing arg fails", pay, payReq(Value{}, "USD"), Deny, ReasonConstraintFailed, "pay", `deny: constraint_failed: scope "pay" amount <= 100 (missing)`},
		{"string where number wanted", pay, payReq(StringValue("50"), "USD"), Deny, ReasonConstraintFailed, "pay", `deny: constraint_failed: scope "pay" amount <= 100 (got "50", a string)`},
		{"bool where number wanted", pay, payReq(BoolValue(true), "USD"), Deny, ReasonConstraintFailed, "pay", ""},
		{"list where number wanted", pay, payReq(ListValue(IntValue(1)), "USD"), Deny, ReasonConstraintFailed, "pay", ""},
		{"second constraint fails", pay, payReq(IntValue(5), "usd"), Deny, ReasonConstraintFailed, "pay", `deny: constraint_failed: scope "pay" currency == "USD" (got "usd")`},
		// deny wins
		{"deny wins over allow", `[{"id":"all","effect":"allow","actions":["*"],"resources":["**"]},{"id":"nohome","effect":"deny","actions":["calendar"],"resources":["calendar/home/**"]}]`,
			r("calendar/read", "calendar/home/x"), Deny, ReasonDenied, "nohome", ""},
		{"deny does not touch others", `[{"id":"all","effect":"allow","actions":["*"],"resources":["**"]},{"id":"nohome","effect":"deny","actions":["calendar"],"resources":["calendar/home/**"]}]`,
			r("calendar/read", "calendar/work/x"), Allow, ReasonAllowed, "all", ""},
		{"deny constraint on missing arg applies", `[{"effect":"allow","actions":["p"],"resources":["**"]},{"id":"big","effect":"deny","actions":["p"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":1000}]}]`,
			r("p", "x"), Deny, ReasonDenied, "big", ""},
		{"deny constraint false does not apply", `[{"effect":"allow","actions":["p"],"resources":["**"]},{"id":"big","effect":"deny","actions":["p"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":1000}]}]`,
			Request{Action: "p", Resource: "x", Args: map[string]Value{"amount": IntValue(10)}, Time: t2026}, Allow, ReasonAllowed, "#0", ""},
		{"deny outside its window does not apply", `[{"effect":"allow","actions":["p"],"resources":["**"]},{"effect":"deny","actions":["p"],"resources":["**"],"notAfter":"2026-01-01T00:00:00Z"}]`,
			r("p", "x"), Allow, ReasonAllowed, "#0", ""},
		// time
		{"not yet valid", `[{"id":"s","effect":"allow","actions":["p"],"resources":["**"],"notBefore":"2027-01-01T00:00:00Z"}]`, r("p", "x"), Deny, ReasonNotYetValid, "s", `deny: scope_not_yet_valid: scope "s" is valid from 2027-01-01T00:00:00Z`},
		{"expired", `[{"id":"s","effect":"allow","actions":["p"],"resources":["**"],"notAfter":"2026-01-01T00:00:00Z"}]`, r("p", "x"), Deny, ReasonExpired, "s", `deny: scope_expired: scope "s" expired at 2026-01-01T00:00:00Z`},
		{"notAfter is exclusive", `[{"id":"s","effect":"allow","actions":["p"],"resources":["**"],"notAfter":"2026-06-01T12:00:00Z"}]`, r("p", "x"), Deny, ReasonExpired, "s", ""},
		{"notBefore is inclusive", `[{"id":"s","effect":"allow","actions":["p"],"resources":["**"],"notBefore":"2026-06-01T12:00:00Z"}]`, r("p", "x"), Allow, ReasonAllowed, "s", ""},
		// closest miss and escalation
		{"closest miss wins", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"]},{"id":"b","effect":"allow","actions":["p"],"resources":["x"],"counterparties":["contacts"]}]`,
			r("p", "x"), Deny, ReasonCounterpartyNotAllowed, "b", ""},
		{"escalate outside", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"],"outside":"escalate"}]`, r("p", "x"), Escalate, ReasonResourceNotMatched, "a",
			`escalate by scope "a": resource_not_matched: scope "a" does not match resource "x"`},
		{"escalate names the escalating scope, reason the closest miss", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"],"outside":"escalate"},{"id":"b","effect":"allow","actions":["p"],"resources":["x"],"notAfter":"2026-01-01T00:00:00Z"}]`,
			r("p", "x"), Escalate, ReasonExpired, "a", ""},
		{"escalate only for covered actions", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"],"outside":"escalate"}]`, r("q", "x"), Deny, ReasonNoScope, "", ""},
		{"explicit outside deny", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"],"outside":"deny"}]`, r("p", "x"), Deny, ReasonResourceNotMatched, "a", ""},
		{"deny beats escalate", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"],"outside":"escalate"},{"id":"d","effect":"deny","actions":["p"],"resources":["x"]}]`,
			r("p", "x"), Deny, ReasonDenied, "d", ""},
		{"invalid resource never escalates", `[{"id":"a","effect":"allow","actions":["p"],"resources":["y"],"outside":"escalate"}]`, r("p", "../x"), Deny, ReasonResourceInvalid, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := mustSet(t, tt.scopes)
			d := set.Evaluate(tt.req)
			if d.Effect != tt.effect || d.Reason != tt.reason || d.Scope != tt.scope {
				t.Fatalf("got %+v, want effect %s reason %s scope %q", d, tt.effect, tt.reason, tt.scope)
			}
			if tt.str != "" && d.String() != tt.str {
				t.Errorf("String:\n got %s\nwant %s", d.String(), tt.str)
			}
			if d2 := Evaluate(set.Scopes(), tt.req); d2 != d {
				t.Errorf("Evaluate and Set.Evaluate differ: %+v vs %+v", d2, d)
			}
		})
	}
}

func TestEvaluateConstraintOps(t *testing.T) {
	tests := []struct {
		c    string
		arg  Value
		want bool
	}{
		{`{"arg":"a","op":"==","value":"x"}`, StringValue("x"), true},
		{`{"arg":"a","op":"==","value":"x"}`, StringValue("X"), false},
		{`{"arg":"a","op":"==","value":true}`, BoolValue(true), true},
		{`{"arg":"a","op":"==","value":true}`, StringValue("true"), false},
		{`{"arg":"a","op":"==","value":0.3}`, num(t, "0.30"), true},
		{`{"arg":"a","op":"<=","value":0.3}`, num(t, "0.30000000000000004"), false}, // 0.1+0.2 as a float64 prints
		{`{"arg":"a","op":"<=","value":0.30000000000000004}`, num(t, "0.3"), true},
		{`{"arg":"a","op":"==","value":0.1}`, num(t, "0.1000000000000000055511151231257827"), false}, // the double nearest 0.1
		{`{"arg":"a","op":"!=","value":"x"}`, StringValue("y"), true},
		{`{"arg":"a","op":"!=","value":"x"}`, StringValue("x"), false},
		{`{"arg":"a","op":"!=","value":"x"}`, IntValue(1), false}, // type mismatch fails closed
		{`{"arg":"a","op":"<","value":1}`, num(t, "0.9999999999999999999999"), true},
		{`{"arg":"a","op":"<","value":1}`, IntValue(1), false},
		{`{"arg":"a","op":">","value":-1}`, num(t, "-0.5"), true},
		{`{"arg":"a","op":">=","value":1e-5}`, num(t, "0.00001"), true},
		{`{"arg":"a","op":">=","value":1e-5}`, num(t, "0.0000099"), false},
		{`{"arg":"a","op":"in","value":["a","b"]}`, StringValue("b"), true},
		{`{"arg":"a","op":"in","value":["a","b"]}`, StringValue("c"), false},
		{`{"arg":"a","op":"in","value":["a","b"]}`, ListValue(StringValue("a"), StringValue("b")), true},
		{`{"arg":"a","op":"in","value":["a","b"]}`, ListValue(StringValue("a"), StringValue("c")), false},
		{`{"arg":"a","op":"in","value":["a","b"]}`, ListValue(), false},
		{`{"arg":"a","op":"in","value":["a","b"]}`, ListValue(StringValue("a"), IntValue(1)), false},
		{`{"arg":"a","op":"in","value":[1,2]}`, num(t, "2.0"), true},
		{`{"arg":"a","op":"in","value":[1,2]}`, StringValue("1"), false},
		{`{"arg":"a","op":"not_in","value":["a"]}`, StringValue("b"), true},
		{`{"arg":"a","op":"not_in","value":["a"]}`, StringValue("a"), false},
		{`{"arg":"a","op":"not_in","value":["a"]}`, IntValue(3), false},
		{`{"arg":"a","op":"not_in","value":["a"]}`, ListValue(StringValue("b"), StringValue("c")), true},
		{`{"arg":"a","op":"prefix","value":"/docs/"}`, StringValue("/docs/x"), true},
		{`{"arg":"a","op":"prefix","value":"/docs/"}`, StringValue("/doc"), false},
		{`{"arg":"a","op":"prefix","value":"/docs/"}`, IntValue(1), false},
	}
	for _, tt := range tests {
		t.Run(tt.c+" "+tt.arg.String(), func(t *testing.T) {
			set := mustSet(t, `[{"effect":"allow","actions":["x"],"resources":["**"],"constraints":[`+tt.c+`]}]`)
			d := set.Evaluate(Request{Action: "x", Resource: "r", Args: map[string]Value{"a": tt.arg}})
			if got := d.Effect == Allow; got != tt.want {
				t.Fatalf("got %s, want allowed=%v", d, tt.want)
			}
			if !tt.want && d.Reason != ReasonConstraintFailed {
				t.Fatalf("reason %s", d.Reason)
			}
		})
	}
}

func TestDecisionStringBounded(t *testing.T) {
	long := strings.Repeat("é", 3000)
	tests := []Decision{
		{Effect: Deny, Reason: ReasonConstraintFailed, Detail: long},
		{Effect: Escalate, Scope: "x", Reason: ReasonExpired, Detail: long},
		{Effect: Allow, Scope: strings.Repeat("a", 5000)},
	}
	for i, d := range tests {
		s := d.String()
		if len(s) > MaxDecisionLen || !utf8.ValidString(s) {
			t.Errorf("%d: %d bytes, valid UTF-8 %v", i, len(s), utf8.ValidString(s))
		}
	}
	// A huge request produces a bounded reason.
	set := mustSet(t, `[{"id":"s","effect":"allow","actions":["x"],"resources":["**"],"constraints":[{"arg":"a","op":"==","value":"`+strings.Repeat("v", 1024)+`"}]}]`)
	d := set.Evaluate(Request{Action: "x", Resource: "r", Args: map[string]Value{"a": StringValue(strings.Repeat("w", 1<<20))}})
	if d.Reason != ReasonConstraintFailed || len(d.String()) > 1024 {
		t.Fatalf("%d bytes: %.200s", len(d.String()), d)
	}
}

func TestEvaluateInvalidList(t *testing.T) {
	d := Evaluate([]Scope{{Effect: "maybe", Actions: []string{"x"}, Resources: []string{"x"}}}, Request{Action: "x", Resource: "x"})
	if d.Effect != Deny || d.Reason != ReasonScopesInvalid {
		t.Fatalf("%+v", d)
	}
}

func TestEvaluateAllowDoesNotAllocate(t *testing.T) {
	set := realisticSet(t)
	req := realisticRequest()
	if d := set.Evaluate(req); d.Effect != Allow {
		t.Fatalf("%s", d)
	}
	if n := testing.AllocsPerRun(100, func() { set.Evaluate(req) }); n != 0 {
		t.Fatalf("%v allocations per allowed evaluation", n)
	}
}

func TestEvaluateWindowBoundsTime(t *testing.T) {
	set := mustSet(t, `[{"effect":"allow","actions":["x"],"resources":["**"],"notBefore":"2026-01-01T00:00:00Z"}]`)
	if d := set.Evaluate(Request{Action: "x", Resource: "r"}); d.Reason != ReasonNotYetValid {
		t.Fatalf("zero time: %s", d)
	}
	if d := set.Evaluate(Request{Action: "x", Resource: "r", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}); d.Reason != ReasonNotYetValid {
		t.Fatalf("offset time: %s", d)
	}
}
