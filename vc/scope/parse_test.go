package scope

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a valid scope every bad case mutates.
const base = `{"id":"s","effect":"allow","actions":["a"],"resources":["r/**"]}`

func withMember(m string) string { return `[` + strings.TrimSuffix(base, "}") + `,` + m + `}]` }
func replaced(old, new string) string {
	return `[` + strings.Replace(base, old, new, 1) + `]`
}

// badScopes lists refused inputs: name, input, code, scope index, member.
// The vectors under spec/testdata/scope/bad are generated from it.
func badScopes() []struct {
	name, in string
	code     Code
	member   string
} {
	many := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	return []struct {
		name, in string
		code     Code
		member   string
	}{
		{"not-json", `[{`, CodeMalformed, ""},
		{"not-an-array", base, CodeMalformed, ""},
		{"trailing-data", `[` + base + `]x`, CodeMalformed, ""},
		{"invalid-utf8", "[" + strings.Replace(base, `"s"`, "\"s\xff\"", 1) + "]", CodeMalformed, ""},
		{"scope-not-object", `[1]`, CodeMalformed, ""},
		{"unknown-member", withMember(`"extra":1`), CodeMalformed, "extra"},
		{"member-case", replaced(`"effect"`, `"Effect"`), CodeMalformed, "Effect"},
		{"duplicate-member", withMember(`"effect":"deny"`), CodeMalformed, ""},
		{"missing-effect", replaced(`"effect":"allow",`, ``), CodeMalformed, "effect"},
		{"missing-actions", replaced(`"actions":["a"],`, ``), CodeMalformed, "actions"},
		{"missing-resources", replaced(`,"resources":["r/**"]`, ``), CodeMalformed, "resources"},
		{"null-member", replaced(`"s"`, `null`), CodeMalformed, "id"},
		{"actions-not-array", replaced(`["a"]`, `"a"`), CodeMalformed, "actions"},
		{"action-not-string", replaced(`["a"]`, `[1]`), CodeMalformed, "actions[0]"},
		{"too-many-scopes", `[` + many(257, `{"effect":"allow","actions":["a"],"resources":["r"]}`) + `]`, CodeMalformed, ""},
		{"id-uppercase", replaced(`"s"`, `"S"`), CodeIDInvalid, "id"},
		{"id-empty", replaced(`"s"`, `""`), CodeIDInvalid, "id"},
		{"id-too-long", replaced(`"s"`, `"`+strings.Repeat("a", 65)+`"`), CodeIDInvalid, "id"},
		{"id-duplicate", `[` + base + `,` + base + `]`, CodeIDInvalid, "id"},
		{"effect-escalate", replaced(`"allow"`, `"escalate"`), CodeEffectInvalid, "effect"},
		{"effect-uppercase", replaced(`"allow"`, `"Allow"`), CodeEffectInvalid, "effect"},
		{"actions-empty", replaced(`["a"]`, `[]`), CodeActionInvalid, "actions"},
		{"action-uppercase", replaced(`["a"]`, `["Message/send"]`), CodeActionInvalid, "actions[0]"},
		{"action-empty-segment", replaced(`["a"]`, `["message//send"]`), CodeActionInvalid, "actions[0]"},
		{"action-trailing-slash", replaced(`["a"]`, `["message/"]`), CodeActionInvalid, "actions[0]"},
		{"action-star-segment", replaced(`["a"]`, `["message/*"]`), CodeActionInvalid, "actions[0]"},
		{"action-unicode", replaced(`["a"]`, `["m\u0430il"]`), CodeActionInvalid, "actions[0]"},
		{"actions-too-many", replaced(`["a"]`, `[`+many(65, `"a"`)+`]`), CodeActionInvalid, "actions"},
		{"action-too-long", replaced(`["a"]`, `["`+strings.Repeat("a", 1025)+`"]`), CodeActionInvalid, "actions[0]"},
		{"action-too-many-segments", replaced(`["a"]`, `["`+strings.Repeat("a/", 64)+`a"]`), CodeActionInvalid, "actions[0]"},
		{"resources-empty", replaced(`["r/**"]`, `[]`), CodeResourceInvalid, "resources"},
		{"resource-dotdot", replaced(`["r/**"]`, `["r/../x"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-dot", replaced(`["r/**"]`, `["./r"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-leading-slash", replaced(`["r/**"]`, `["/r"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-trailing-slash", replaced(`["r/**"]`, `["r/"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-empty", replaced(`["r/**"]`, `[""]`), CodeResourceInvalid, "resources[0]"},
		{"resource-backslash", replaced(`["r/**"]`, `["r\\x"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-globstar-in-segment", replaced(`["r/**"]`, `["r/a**"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-triple-star", replaced(`["r/**"]`, `["r/***"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-control", replaced(`["r/**"]`, `["r/\u0007"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-c1-control", replaced(`["r/**"]`, `["r/\u0085"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-lone-surrogate", replaced(`["r/**"]`, `["r/\ud800"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-too-long", replaced(`["r/**"]`, `["`+strings.Repeat("a", 1025)+`"]`), CodeResourceInvalid, "resources[0]"},
		{"resource-too-many-segments", replaced(`["r/**"]`, `["`+strings.Repeat("a/", 64)+`a"]`), CodeResourceInvalid, "resources[0]"},
		{"resources-too-many", replaced(`["r/**"]`, `[`+many(65, `"r"`)+`]`), CodeResourceInvalid, "resources"},
		{"resources-search-budget", `[` + many(129, `{"effect":"allow","actions":["a"],"resources":["**/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/**"]}`) + `]`, CodeResourceInvalid, "resources[0]"},
		{"counterparties-empty", withMember(`"counterparties":[]`), CodeCounterpartyInvalid, "counterparties"},
		{"counterparty-not-did", withMember(`"counterparties":["bob"]`), CodeCounterpartyInvalid, "counterparties[0]"},
		{"counterparty-contacts-case", withMember(`"counterparties":["Contacts"]`), CodeCounterpartyInvalid, "counterparties[0]"},
		{"counterparty-did-url", withMember(`"counterparties":["did:key:z6Mk#k"]`), CodeCounterpartyInvalid, "counterparties[0]"},
		{"counterparty-did-uppercase-method", withMember(`"counterparties":["did:KEY:z6Mk"]`), CodeCounterpartyInvalid, "counterparties[0]"},
		{"counterparty-did-empty-id", withMember(`"counterparties":["did:key:"]`), CodeCounterpartyInvalid, "counterparties[0]"},
		{"counterparty-did-bad-percent", withMember(`"counterparties":["did:web:a%2"]`), CodeCounterpartyInvalid, "counterparties[0]"},
		{"constraints-empty", withMember(`"constraints":[]`), CodeConstraintInvalid, "constraints"},
		{"constraint-unknown-member", withMember(`"constraints":[{"arg":"a","op":"==","value":1,"x":1}]`), CodeMalformed, "constraints[0].x"},
		{"constraint-missing-value", withMember(`"constraints":[{"arg":"a","op":"=="}]`), CodeMalformed, "constraints[0].value"},
		{"constraint-bad-op", withMember(`"constraints":[{"arg":"a","op":"=~","value":1}]`), CodeConstraintInvalid, "constraints[0].op"},
		{"constraint-bad-arg", withMember(`"constraints":[{"arg":"1a","op":"==","value":1}]`), CodeConstraintInvalid, "constraints[0].arg"},
		{"constraint-order-on-string", withMember(`"constraints":[{"arg":"a","op":"<","value":"b"}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-eq-on-list", withMember(`"constraints":[{"arg":"a","op":"==","value":[1]}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-in-empty", withMember(`"constraints":[{"arg":"a","op":"in","value":[]}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-in-mixed", withMember(`"constraints":[{"arg":"a","op":"in","value":["a",1]}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-in-bools", withMember(`"constraints":[{"arg":"a","op":"in","value":[true]}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-in-scalar", withMember(`"constraints":[{"arg":"a","op":"in","value":"a"}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-prefix-number", withMember(`"constraints":[{"arg":"a","op":"prefix","value":1}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-prefix-empty", withMember(`"constraints":[{"arg":"a","op":"prefix","value":""}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-null-value", withMember(`"constraints":[{"arg":"a","op":"==","value":null}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-nan", withMember(`"constraints":[{"arg":"a","op":"<","value":NaN}]`), CodeMalformed, ""},
		{"constraint-65-digits", withMember(`"constraints":[{"arg":"a","op":"<","value":` + strings.Repeat("9", 65) + `}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraint-huge-exponent", withMember(`"constraints":[{"arg":"a","op":"<","value":1e10000}]`), CodeConstraintInvalid, "constraints[0].value"},
		{"constraints-too-many", withMember(`"constraints":[` + many(65, `{"arg":"a","op":"==","value":1}`) + `]`), CodeConstraintInvalid, "constraints"},
		{"time-offset", withMember(`"notBefore":"2026-01-01T00:00:00+00:00"`), CodeTimeInvalid, "notBefore"},
		{"time-lowercase-z", withMember(`"notBefore":"2026-01-01T00:00:00z"`), CodeTimeInvalid, "notBefore"},
		{"time-trailing-zeros", withMember(`"notAfter":"2026-01-01T00:00:00.500Z"`), CodeTimeInvalid, "notAfter"},
		{"time-no-seconds", withMember(`"notAfter":"2026-01-01T00:00Z"`), CodeTimeInvalid, "notAfter"},
		{"time-date-only", withMember(`"notAfter":"2026-01-01"`), CodeTimeInvalid, "notAfter"},
		{"time-before-1970", withMember(`"notAfter":"1969-12-31T23:59:59Z"`), CodeTimeInvalid, "notAfter"},
		{"time-window-empty", withMember(`"notBefore":"2026-01-01T00:00:00Z","notAfter":"2026-01-01T00:00:00Z"`), CodeTimeInvalid, "notAfter"},
		{"time-window-reversed", withMember(`"notBefore":"2027-01-01T00:00:00Z","notAfter":"2026-01-01T00:00:00Z"`), CodeTimeInvalid, "notAfter"},
		{"outside-unknown", withMember(`"outside":"ask"`), CodeOutsideInvalid, "outside"},
		{"outside-empty", withMember(`"outside":""`), CodeOutsideInvalid, "outside"},
		{"outside-on-deny", `[{"effect":"deny","actions":["a"],"resources":["r"],"outside":"escalate"}]`, CodeOutsideInvalid, "outside"},
	}
}

func TestParseRefusals(t *testing.T) {
	for _, tt := range badScopes() {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatal("accepted")
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("%T %v", err, err)
			}
			if e.Code != tt.code || e.Member != tt.member {
				t.Fatalf("got %s member %q (%v), want %s member %q", e.Code, e.Member, err, tt.code, tt.member)
			}
			if CodeOf(fmt.Errorf("wrapped: %w", err)) != tt.code {
				t.Fatal("CodeOf does not see through wrapping")
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	for _, in := range goodScopes() {
		sc, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		out, err := Marshal(sc)
		if err != nil {
			t.Fatal(err)
		}
		sc2, err := Parse(out)
		if err != nil {
			t.Fatalf("canonical form does not parse: %s: %v", out, err)
		}
		if !reflect.DeepEqual(sc, sc2) {
			t.Errorf("round trip differs:\n%s\n%s", in, out)
		}
		if out2, _ := Marshal(sc2); !bytes.Equal(out, out2) {
			t.Errorf("marshal not a fixed point:\n%s\n%s", out, out2)
		}
	}
}

func goodScopes() []string {
	return []string{
		`[]`,
		`[` + base + `]`,
		realisticScopes,
		`[{"effect":"deny","actions":["*"],"resources":["**"]}]`,
		`[{"id":"0.a_b-c","effect":"allow","actions":["a/b/c","x_y-z/0"],"resources":["caf\u00e9/\u65e5\u672c/*","%2e%2e/x"],"counterparties":["contacts","did:web:example.com%3A8443:u:alice"],
		  "constraints":[{"arg":"a.b-c_D","op":"!=","value":false},{"arg":"n","op":"not_in","value":[1,2.50,3e1]},{"arg":"p","op":"prefix","value":"<&>"}],
		  "notBefore":"2026-01-01T00:00:00.5Z","notAfter":"2026-12-31T23:59:59Z","outside":"deny"}]`,
		`[{"effect":"allow","actions":["a"],"resources":["` + strings.Repeat("a/", 63) + `a"],"constraints":[{"arg":"x","op":"<","value":` + strings.Repeat("9", 64) + `}]}]`,
	}
}

func TestParseScopeAndJSON(t *testing.T) {
	s, err := ParseScope([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.MarshalJSON()
	if err != nil || string(b) != base {
		t.Fatalf("%s %v", b, err)
	}
	var s2 Scope
	if err := s2.UnmarshalJSON([]byte(`{"effect":"allow","actions":["a"],"resources":["../x"]}`)); CodeOf(err) != CodeResourceInvalid {
		t.Fatalf("UnmarshalJSON: %v", err)
	}
	if _, err := (Scope{Effect: Allow, Actions: []string{"a"}}).MarshalJSON(); CodeOf(err) != CodeResourceInvalid {
		t.Fatalf("MarshalJSON of an invalid scope: %v", err)
	}
}

func TestValidateGoBuilt(t *testing.T) {
	ok := Scope{Effect: Allow, Actions: []string{"a"}, Resources: []string{"r"}}
	tests := []struct {
		name string
		s    Scope
		code Code
	}{
		{"nul in string value", func() Scope {
			x := ok
			x.Constraints = []Constraint{{Arg: "a", Op: OpEq, Value: StringValue("\xff")}}
			return x
		}(), CodeConstraintInvalid},
		{"nested list", func() Scope {
			x := ok
			x.Constraints = []Constraint{{Arg: "a", Op: OpIn, Value: ListValue(ListValue(IntValue(1)))}}
			return x
		}(), CodeConstraintInvalid},
		{"zero value", func() Scope { x := ok; x.Constraints = []Constraint{{Arg: "a", Op: OpEq}}; return x }(), CodeConstraintInvalid},
		{"year 10000", func() Scope { x := ok; x.NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return x }(), CodeTimeInvalid},
		{"outside on deny", func() Scope { x := ok; x.Effect = Deny; x.Outside = OutsideDeny; return x }(), CodeOutsideInvalid},
	}
	for _, tt := range tests {
		if _, err := Compile([]Scope{tt.s}); CodeOf(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if _, err := Compile(make([]Scope, MaxScopes+1)); CodeOf(err) != CodeMalformed {
		t.Errorf("too many: %v", err)
	}
}

func TestErrorText(t *testing.T) {
	_, err := Parse([]byte(replaced(`["r/**"]`, `["r/../x"]`)))
	want := `scope_resource_invalid: scope 0: resources[0]: "r/../x": "." or ".." segment`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
