package scope_test

import (
	"fmt"
	"time"

	"github.com/clawnet/ledger/vc/scope"
)

func ExampleSet_Evaluate() {
	scopes, err := scope.Parse([]byte(`[
	  {"id":"pay","effect":"allow","actions":["payment/send"],"resources":["wallet/main"],
	   "counterparties":["contacts"],
	   "constraints":[{"arg":"amount","op":"<=","value":100},{"arg":"currency","op":"==","value":"USD"}],
	   "outside":"escalate"}]`))
	if err != nil {
		panic(err)
	}
	set, err := scope.Compile(scopes)
	if err != nil {
		panic(err)
	}
	amount, _ := scope.ParseNumber("250")
	d := set.Evaluate(scope.Request{
		Action:                "payment/send",
		Resource:              "wallet/main",
		Counterparty:          "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		CounterpartyIsContact: true,
		Args:                  map[string]scope.Value{"amount": scope.NumberValue(amount), "currency": scope.StringValue("USD")},
		Time:                  time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
	})
	fmt.Println(d)
	// Output: escalate by scope "pay": constraint_failed: scope "pay" amount <= 100 (got 250)
}

func ExampleSubset() {
	parent := scope.MustCompile(mustParse(`[{"effect":"allow","actions":["calendar"],"resources":["calendar/**"]}]`))
	child := scope.MustCompile(mustParse(`[{"effect":"allow","actions":["calendar/read"],"resources":["calendar/work/**"]}]`))
	ok, _ := scope.Subset(child, parent)
	fmt.Println(ok)
	ok, why := scope.Subset(parent, child)
	fmt.Println(ok, why)
	// Output:
	// true
	// false child scope "#0" is covered by no parent allow scope (no parent allow scope covers its actions)
}

func mustParse(s string) []scope.Scope {
	sc, err := scope.Parse([]byte(s))
	if err != nil {
		panic(err)
	}
	return sc
}
