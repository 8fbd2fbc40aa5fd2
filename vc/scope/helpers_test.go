package scope

import (
	"fmt"
	"testing"
	"time"
)

// testRequest is the JSON form of a Request used by the spec's examples
// and the vectors under spec/testdata/scope.
type testRequest struct {
	Action       string
	Resource     string
	Counterparty string
	Contact      bool
	Args         map[string]Value
	Time         time.Time
}

// parseRequest parses {"action", "resource", "counterparty"?, "contact"?,
// "args"?, "time"} strictly.
func parseRequest(data []byte) (Request, error) {
	n, err := parseJSON(data)
	if err != nil {
		return Request{}, err
	}
	if n.kind != nodeObject {
		return Request{}, fmt.Errorf("request is not an object")
	}
	var r Request
	for _, m := range n.obj {
		v := m.val
		switch m.name {
		case "action", "resource", "counterparty", "time":
			if v.kind != nodeString {
				return r, fmt.Errorf("%s: not a string", m.name)
			}
			switch m.name {
			case "action":
				r.Action = v.str
			case "resource":
				r.Resource = v.str
			case "counterparty":
				r.Counterparty = v.str
			case "time":
				t, err := time.Parse(time.RFC3339Nano, v.str)
				if err != nil {
					return r, err
				}
				r.Time = t
			}
		case "contact":
			if v.kind != nodeBool {
				return r, fmt.Errorf("contact: not a bool")
			}
			r.CounterpartyIsContact = v.b
		case "args":
			if v.kind != nodeObject {
				return r, fmt.Errorf("args: not an object")
			}
			r.Args = map[string]Value{}
			for _, a := range v.obj {
				x, err := valueOf(&a.val, true)
				if err != nil {
					return r, fmt.Errorf("args.%s: %w", a.name, err)
				}
				r.Args[a.name] = x
			}
		default:
			return r, fmt.Errorf("unknown member %q", m.name)
		}
	}
	return r, nil
}

func mustParse(t testing.TB, s string) []Scope {
	t.Helper()
	sc, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return sc
}

func mustSet(t testing.TB, s string) *Set {
	t.Helper()
	set, err := Compile(mustParse(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func num(t testing.TB, s string) Value {
	t.Helper()
	n, err := ParseNumber(s)
	if err != nil {
		t.Fatalf("number %s: %v", s, err)
	}
	return NumberValue(n)
}

var t2026 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	didBob   = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	didCarol = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"
)

func timeUnix(s int64) time.Time { return time.Unix(s%(1<<40), 0).UTC() }
