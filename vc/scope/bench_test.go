package scope

import (
	"strconv"
	"strings"
	"testing"
)

// realisticScopes is a credential an Identity Agent might hold: 8 scopes,
// a deny rule, counterparties and 2 to 3 constraints on the money scopes.
const realisticScopes = `[
 {"id":"no-personal","effect":"deny","actions":["*"],"resources":["files/personal/**"]},
 {"id":"work-calendar","effect":"allow","actions":["calendar"],"resources":["calendar/work/**"],"counterparties":["contacts"]},
 {"id":"messages","effect":"allow","actions":["message/send","message/read"],"resources":["inbox/work/**","outbox/*"],"counterparties":["contacts"]},
 {"id":"files","effect":"allow","actions":["files/read"],"resources":["files/work/**/*.pdf","files/shared/**"],"counterparties":["contacts","did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"]},
 {"id":"small-pay","effect":"allow","actions":["payment/send"],"resources":["wallet/main"],"counterparties":["contacts"],
  "constraints":[{"arg":"amount","op":"<=","value":100},{"arg":"currency","op":"in","value":["USD","EUR"]},{"arg":"memo","op":"prefix","value":"inv-"}],"outside":"escalate"},
 {"id":"quotes","effect":"allow","actions":["negotiation/quote"],"resources":["deals/**"],"counterparties":["contacts"],
  "constraints":[{"arg":"price","op":">=","value":10.5},{"arg":"price","op":"<","value":1000}],"notBefore":"2026-01-01T00:00:00Z","notAfter":"2027-01-01T00:00:00Z"},
 {"id":"notes","effect":"allow","actions":["notes"],"resources":["notes/**"]},
 {"id":"pay-stranger","effect":"deny","actions":["payment"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":10000}]}
]`

func realisticSet(t testing.TB) *Set { return mustSet(t, realisticScopes) }

func realisticRequest() Request {
	amt, _ := ParseNumber("42.50")
	return Request{
		Action: "payment/send", Resource: "wallet/main", Counterparty: didBob, CounterpartyIsContact: true,
		Args: map[string]Value{"amount": NumberValue(amt), "currency": StringValue("EUR"), "memo": StringValue("inv-2026-001")},
		Time: t2026,
	}
}

// BenchmarkEvaluate: a realistic credential and an allowed payment, the
// request that walks most scopes before matching.
func BenchmarkEvaluate(b *testing.B) {
	set := realisticSet(b)
	req := realisticRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if set.Evaluate(req).Effect != Allow {
				b.Fatal("not allowed")
			}
		}
	})
}

// BenchmarkEvaluateDeny: the same credential, a request denied with the
// closest miss (a constraint), which builds a detail string.
func BenchmarkEvaluateDeny(b *testing.B) {
	set := realisticSet(b)
	req := realisticRequest()
	req.Action = "files/read"
	req.Resource = "files/work/a/b/c/report.docx"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if set.Evaluate(req).Effect != Deny {
				b.Fatal("not denied")
			}
		}
	})
}

// BenchmarkEvaluateWorst: the limits. 256 scopes of 64 patterns each, the
// list's MaxSearched budget spent on 32-segment blocks between globstars
// that almost occur at every position of a 64-segment request, and no
// pattern matches.
func BenchmarkEvaluateWorst(b *testing.B) {
	set := worstSet(b)
	req := worstRequest()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if set.Evaluate(req).Effect != Deny {
			b.Fatal("not denied")
		}
	}
}

func worstSet(t testing.TB) *Set {
	scopes := make([]Scope, MaxScopes)
	budget := MaxSearched
	for i := range scopes {
		pats := make([]string, MaxItems)
		for j := range pats {
			if budget >= 32 {
				// Distinct patterns, so that no cache could help.
				pats[j] = "**/" + strings.Repeat("x/", 30) + "*x*x*x*/y" + strconv.Itoa(i*MaxItems+j) + "/**"
				budget -= 32
			} else {
				pats[j] = strings.Repeat("x/", 62) + "y" + strconv.Itoa(j) + "/**"
			}
		}
		scopes[i] = Scope{Effect: Allow, Actions: []string{"a"}, Resources: pats}
	}
	return MustCompile(scopes)
}

func worstRequest() Request {
	return Request{Action: "a/b", Resource: strings.Repeat("x/", 63) + "x", Time: t2026}
}

func BenchmarkSubset(b *testing.B) {
	parent := realisticSet(b)
	child := mustSet(b, `[
 {"id":"no-personal","effect":"deny","actions":["*"],"resources":["files/personal/**"]},
 {"id":"pay-stranger","effect":"deny","actions":["payment"],"resources":["**"],"constraints":[{"arg":"amount","op":">","value":10000}]},
 {"id":"cal","effect":"allow","actions":["calendar/read"],"resources":["calendar/work/team/**"],"counterparties":["contacts"]},
 {"id":"pay","effect":"allow","actions":["payment/send"],"resources":["wallet/main"],"counterparties":["contacts"],
  "constraints":[{"arg":"amount","op":"<=","value":20},{"arg":"currency","op":"==","value":"USD"},{"arg":"memo","op":"prefix","value":"inv-2026-"}]}
]`)
	if ok, why := Subset(child, parent); !ok {
		b.Fatal(why)
	}
	b.ReportAllocs()
	for b.Loop() {
		Subset(child, parent)
	}
}
