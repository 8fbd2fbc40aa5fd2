package scope

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite spec/testdata/scope")

const vectorDir = "../../spec/testdata/scope"

// goodVectors are named valid scope lists.
func goodVectors() map[string]string {
	g := goodScopes()
	return map[string]string{
		"empty":          g[0],
		"minimal":        g[1],
		"realistic":      g[2],
		"deny-all":       g[3],
		"every-member":   g[4],
		"at-the-limits":  g[5],
		"unicode":        `[{"effect":"allow","actions":["files/read"],"resources":["ファイル/**","dаta/*"]}]`,
		"numbers":        `[{"effect":"allow","actions":["p"],"resources":["**"],"constraints":[{"arg":"a","op":"<=","value":100.000},{"arg":"b","op":">","value":-0.5e-3},{"arg":"c","op":"in","value":[1E+2,0.10]}]}]`,
		"globstars":      `[{"effect":"allow","actions":["x"],"resources":["**/**/a","a/**/b/**","**/*.pdf"]}]`,
		"escalate":       `[{"id":"pay","effect":"allow","actions":["payment"],"resources":["wallet/*"],"outside":"escalate"}]`,
		"time-fractions": `[{"effect":"allow","actions":["x"],"resources":["x"],"notBefore":"2026-01-01T00:00:00.123456789Z","notAfter":"2026-01-01T00:00:01Z"}]`,
	}
}

// evalVectors: name, scopes, request (the JSON form of parseRequest).
var evalVectors = [][3]string{
	{"allow-realistic", realisticScopes, `{"action":"payment/send","resource":"wallet/main","counterparty":"` + didBob + `","contact":true,"args":{"amount":42.50,"currency":"EUR","memo":"inv-7"},"time":"2026-06-01T12:00:00Z"}`},
	{"deny-wins", realisticScopes, `{"action":"files/read","resource":"files/personal/x","time":"2026-06-01T12:00:00Z"}`},
	{"deny-constraint-missing-arg-applies", realisticScopes, `{"action":"payment/send","resource":"wallet/main","counterparty":"` + didBob + `","contact":true,"time":"2026-06-01T12:00:00Z"}`},
	{"escalate-over-bound", realisticScopes, `{"action":"payment/send","resource":"wallet/main","counterparty":"` + didBob + `","contact":true,"args":{"amount":100.0000000001,"currency":"EUR","memo":"inv-7"},"time":"2026-06-01T12:00:00Z"}`},
	{"escalate-wrong-type", realisticScopes, `{"action":"payment/send","resource":"wallet/main","counterparty":"` + didBob + `","contact":true,"args":{"amount":"42","currency":"EUR","memo":"inv-7"},"time":"2026-06-01T12:00:00Z"}`},
	{"exact-bound", realisticScopes, `{"action":"payment/send","resource":"wallet/main","counterparty":"` + didBob + `","contact":true,"args":{"amount":1e2,"currency":"USD","memo":"inv-"},"time":"2026-06-01T12:00:00Z"}`},
	{"no-scope", realisticScopes, `{"action":"admin","resource":"x","time":"2026-06-01T12:00:00Z"}`},
	{"not-yet-valid", realisticScopes, `{"action":"negotiation/quote","resource":"deals/1","counterparty":"` + didBob + `","contact":true,"args":{"price":20},"time":"2025-12-31T23:59:59Z"}`},
	{"expired-at-notafter", realisticScopes, `{"action":"negotiation/quote","resource":"deals/1","counterparty":"` + didBob + `","contact":true,"args":{"price":20},"time":"2027-01-01T00:00:00Z"}`},
	{"counterparty-not-contact", realisticScopes, `{"action":"calendar/read","resource":"calendar/work/a","counterparty":"` + didCarol + `","time":"2026-06-01T12:00:00Z"}`},
	{"counterparty-listed-did", realisticScopes, `{"action":"files/read","resource":"files/shared/a","counterparty":"` + didBob + `","time":"2026-06-01T12:00:00Z"}`},
	{"counterparty-missing", realisticScopes, `{"action":"calendar/read","resource":"calendar/work/a","time":"2026-06-01T12:00:00Z"}`},
	{"counterparty-did-url", realisticScopes, `{"action":"calendar/read","resource":"calendar/work/a","counterparty":"` + didBob + `#key-1","time":"2026-06-01T12:00:00Z"}`},
	{"traversal-dotdot", realisticScopes, `{"action":"notes/read","resource":"notes/../files/personal/x","time":"2026-06-01T12:00:00Z"}`},
	{"traversal-dot", realisticScopes, `{"action":"notes/read","resource":"notes/./x","time":"2026-06-01T12:00:00Z"}`},
	{"traversal-backslash", realisticScopes, `{"action":"notes/read","resource":"notes\\..\\x","time":"2026-06-01T12:00:00Z"}`},
	{"traversal-leading-slash", realisticScopes, `{"action":"notes/read","resource":"/notes/x","time":"2026-06-01T12:00:00Z"}`},
	{"traversal-percent-opaque", realisticScopes, `{"action":"notes/read","resource":"notes/%2e%2e/x","time":"2026-06-01T12:00:00Z"}`},
	{"request-star", realisticScopes, `{"action":"notes/read","resource":"notes/*","time":"2026-06-01T12:00:00Z"}`},
	{"action-uppercase", realisticScopes, `{"action":"Notes/read","resource":"notes/x","time":"2026-06-01T12:00:00Z"}`},
	{"action-not-a-child", realisticScopes, `{"action":"notesx","resource":"notes/x","time":"2026-06-01T12:00:00Z"}`},
	{"globstar-zero-segments", realisticScopes, `{"action":"notes","resource":"notes","time":"2026-06-01T12:00:00Z"}`},
	{"globstar-middle", realisticScopes, `{"action":"files/read","resource":"files/work/report.pdf","counterparty":"` + didBob + `","time":"2026-06-01T12:00:00Z"}`},
	{"star-does-not-cross", realisticScopes, `{"action":"message/send","resource":"outbox/a/b","counterparty":"` + didBob + `","contact":true,"time":"2026-06-01T12:00:00Z"}`},
	{"cyrillic-lookalike", realisticScopes, `{"action":"notes/read","resource":"nоtes/x","time":"2026-06-01T12:00:00Z"}`},
	{"in-list-argument", `[{"effect":"allow","actions":["m"],"resources":["**"],"constraints":[{"arg":"to","op":"in","value":["a","b"]}]}]`, `{"action":"m","resource":"x","args":{"to":["a","b","a"]},"time":"2026-06-01T12:00:00Z"}`},
	{"in-empty-list-argument", `[{"effect":"allow","actions":["m"],"resources":["**"],"constraints":[{"arg":"to","op":"in","value":["a","b"]}]}]`, `{"action":"m","resource":"x","args":{"to":[]},"time":"2026-06-01T12:00:00Z"}`},
	{"ne-type-mismatch-fails", `[{"effect":"allow","actions":["m"],"resources":["**"],"constraints":[{"arg":"c","op":"!=","value":"EUR"}]}]`, `{"action":"m","resource":"x","args":{"c":false},"time":"2026-06-01T12:00:00Z"}`},
	{"deny-any-counterparty", `[{"effect":"allow","actions":["m"],"resources":["**"],"counterparties":["contacts"]},{"id":"d","effect":"deny","actions":["m"],"resources":["secret/**"]}]`, `{"action":"m","resource":"secret/x","counterparty":"` + didBob + `","contact":true,"time":"2026-06-01T12:00:00Z"}`},
	{"resource-65-segments", `[{"effect":"allow","actions":["m"],"resources":["**"]}]`, `{"action":"m","resource":"` + strings.Repeat("a/", 64) + `a","time":"2026-06-01T12:00:00Z"}`},
}

var subsetVectors = [][4]string{
	// name, child, parent, expected "true"/"false"
	{"identical", realisticScopes, realisticScopes, "true"},
	{"narrower-resource", `[{"effect":"allow","actions":["notes/read"],"resources":["notes/a/**"]}]`, `[{"effect":"allow","actions":["notes"],"resources":["notes/**"]}]`, "true"},
	{"wider-resource", `[{"effect":"allow","actions":["notes"],"resources":["**"]}]`, `[{"effect":"allow","actions":["notes"],"resources":["notes/**"]}]`, "false"},
	{"wider-action", `[{"effect":"allow","actions":["*"],"resources":["notes/a"]}]`, `[{"effect":"allow","actions":["notes"],"resources":["notes/**"]}]`, "false"},
	{"tighter-bound", `[{"effect":"allow","actions":["p"],"resources":["w"],"constraints":[{"arg":"amount","op":"<","value":100}]}]`, `[{"effect":"allow","actions":["p"],"resources":["w"],"constraints":[{"arg":"amount","op":"<=","value":100}]}]`, "true"},
	{"looser-bound", `[{"effect":"allow","actions":["p"],"resources":["w"],"constraints":[{"arg":"amount","op":"<=","value":100}]}]`, `[{"effect":"allow","actions":["p"],"resources":["w"],"constraints":[{"arg":"amount","op":"<","value":100}]}]`, "false"},
	{"dropped-constraint", `[{"effect":"allow","actions":["p"],"resources":["w"]}]`, `[{"effect":"allow","actions":["p"],"resources":["w"],"constraints":[{"arg":"amount","op":"<","value":100}]}]`, "false"},
	{"did-not-within-contacts", `[{"effect":"allow","actions":["p"],"resources":["w"],"counterparties":["` + didBob + `"]}]`, `[{"effect":"allow","actions":["p"],"resources":["w"],"counterparties":["contacts"]}]`, "false"},
	{"wider-window", `[{"effect":"allow","actions":["p"],"resources":["w"]}]`, `[{"effect":"allow","actions":["p"],"resources":["w"],"notAfter":"2027-01-01T00:00:00Z"}]`, "false"},
	{"dropped-deny-overlapping", `[{"effect":"allow","actions":["p"],"resources":["**"]}]`, `[{"effect":"allow","actions":["p"],"resources":["**"]},{"effect":"deny","actions":["p"],"resources":["secret/**"]}]`, "false"},
	{"dropped-deny-disjoint", `[{"effect":"allow","actions":["p"],"resources":["public/**"]}]`, `[{"effect":"allow","actions":["p"],"resources":["**"]},{"effect":"deny","actions":["p"],"resources":["secret/**"]}]`, "true"},
	{"added-escalation", `[{"effect":"allow","actions":["p"],"resources":["w"],"outside":"escalate"}]`, `[{"effect":"allow","actions":["p"],"resources":["w"]}]`, "false"},
}

type evalVector struct {
	Name     string          `json:"name"`
	Scopes   json.RawMessage `json:"scopes"`
	Request  json.RawMessage `json:"request"`
	Decision struct {
		Effect Effect `json:"effect"`
		Scope  string `json:"scope"`
		Reason Reason `json:"reason"`
		Text   string `json:"text"`
	} `json:"decision"`
}

type subsetVector struct {
	Name   string          `json:"name"`
	Child  json.RawMessage `json:"child"`
	Parent json.RawMessage `json:"parent"`
	Subset bool            `json:"subset"`
	Reason string          `json:"reason"`
}

type manifest struct {
	Good []struct {
		File      string `json:"file"`
		Canonical string `json:"canonical"`
	} `json:"good"`
	Bad []struct {
		File   string `json:"file"`
		Code   Code   `json:"code"`
		Scope  int    `json:"scope"`
		Member string `json:"member"`
	} `json:"bad"`
	Evaluate []evalVector   `json:"evaluate"`
	Subset   []subsetVector `json:"subset"`
}

func compact(t *testing.T, s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// generateVectors builds every vector from the tables above and the code.
func generateVectors(t *testing.T) (map[string][]byte, []byte) {
	files := map[string][]byte{}
	var mf manifest
	good := goodVectors()
	names := make([]string, 0, len(good))
	for n := range good {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sc, err := Parse([]byte(good[n]))
		if err != nil {
			t.Fatalf("good %s: %v", n, err)
		}
		canon, _ := Marshal(sc)
		f := "good/" + n + ".json"
		files[f] = []byte(good[n])
		mf.Good = append(mf.Good, struct {
			File      string `json:"file"`
			Canonical string `json:"canonical"`
		}{f, string(canon)})
	}
	for _, b := range badScopes() {
		_, err := Parse([]byte(b.in))
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("bad %s: %v", b.name, err)
		}
		f := "bad/" + b.name + ".json"
		files[f] = []byte(b.in)
		mf.Bad = append(mf.Bad, struct {
			File   string `json:"file"`
			Code   Code   `json:"code"`
			Scope  int    `json:"scope"`
			Member string `json:"member"`
		}{f, e.Code, e.Scope, e.Member})
	}
	for _, v := range evalVectors {
		req, err := parseRequest([]byte(v[2]))
		if err != nil {
			t.Fatalf("eval %s: %v", v[0], err)
		}
		d := mustSet(t, v[1]).Evaluate(req)
		ev := evalVector{Name: v[0], Scopes: compact(t, v[1]), Request: compact(t, v[2])}
		ev.Decision.Effect, ev.Decision.Scope, ev.Decision.Reason, ev.Decision.Text = d.Effect, d.Scope, d.Reason, d.String()
		mf.Evaluate = append(mf.Evaluate, ev)
	}
	for _, v := range subsetVectors {
		ok, why := Subset(mustSet(t, v[1]), mustSet(t, v[2]))
		if (v[3] == "true") != ok {
			t.Fatalf("subset vector %s: got %v %s", v[0], ok, why)
		}
		mf.Subset = append(mf.Subset, subsetVector{Name: v[0], Child: compact(t, v[1]), Parent: compact(t, v[2]), Subset: ok, Reason: why})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(mf); err != nil {
		t.Fatal(err)
	}
	return files, buf.Bytes()
}

// TestVectors checks spec/testdata/scope byte for byte against the
// generator (-update rewrites it), then runs the files as an independent
// implementation would: from disk only.
func TestVectors(t *testing.T) {
	files, mf := generateVectors(t)
	files["vectors.json"] = mf
	if *update {
		for _, sub := range []string{"good", "bad"} {
			os.RemoveAll(filepath.Join(vectorDir, sub))
			if err := os.MkdirAll(filepath.Join(vectorDir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(vectorDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(vectorDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs from the generator (run go test ./vc/scope -run TestVectors -update): %v", name, err)
		}
	}
	for _, sub := range []string{"good", "bad"} {
		ents, _ := os.ReadDir(filepath.Join(vectorDir, sub))
		for _, e := range ents {
			if _, ok := files[sub+"/"+e.Name()]; !ok {
				t.Errorf("stray vector %s/%s", sub, e.Name())
			}
		}
	}
	// Run from disk.
	raw, _ := os.ReadFile(filepath.Join(vectorDir, "vectors.json"))
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for _, g := range m.Good {
		b, _ := os.ReadFile(filepath.Join(vectorDir, g.File))
		sc, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", g.File, err)
			continue
		}
		if c, _ := Marshal(sc); string(c) != g.Canonical {
			t.Errorf("%s: canonical %s", g.File, c)
		}
	}
	for _, bv := range m.Bad {
		b, _ := os.ReadFile(filepath.Join(vectorDir, bv.File))
		_, err := Parse(b)
		e, _ := err.(*Error)
		if e == nil || e.Code != bv.Code || e.Scope != bv.Scope || e.Member != bv.Member {
			t.Errorf("%s: %v, want %s", bv.File, err, bv.Code)
		}
	}
	for _, ev := range m.Evaluate {
		req, err := parseRequest(ev.Request)
		if err != nil {
			t.Fatal(err)
		}
		d := mustSet(t, string(ev.Scopes)).Evaluate(req)
		if d.Effect != ev.Decision.Effect || d.Scope != ev.Decision.Scope || d.Reason != ev.Decision.Reason || d.String() != ev.Decision.Text {
			t.Errorf("%s: %s", ev.Name, d)
		}
	}
	for _, sv := range m.Subset {
		ok, why := Subset(mustSet(t, string(sv.Child)), mustSet(t, string(sv.Parent)))
		if ok != sv.Subset || why != sv.Reason {
			t.Errorf("%s: %v %s", sv.Name, ok, why)
		}
	}
}
