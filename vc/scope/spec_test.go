package scope

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

const specPath = "../../spec/scope-language.md"

// specBlocks returns the bodies of the fenced blocks of the spec whose info
// string is "json <kind>".
func specBlocks(t *testing.T, kind string) [][]byte {
	t.Helper()
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```json " + kind + "\n(.*?)\n```")
	var out [][]byte
	for _, m := range re.FindAllSubmatch(spec, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestSpecExamples runs every example of spec/scope-language.md.
func TestSpecExamples(t *testing.T) {
	evals := specBlocks(t, "scope-example")
	if len(evals) < 2 {
		t.Fatalf("%d scope examples", len(evals))
	}
	cases := 0
	for i, b := range evals {
		var ex struct {
			Scopes json.RawMessage
			Cases  []struct {
				Request  json.RawMessage
				Decision string
			}
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ex); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		set := mustSet(t, string(ex.Scopes))
		for j, c := range ex.Cases {
			req, err := parseRequest(c.Request)
			if err != nil {
				t.Fatalf("example %d case %d: %v", i, j, err)
			}
			if got := set.Evaluate(req).String(); got != c.Decision {
				t.Errorf("example %d case %d:\n got %s\nwant %s", i, j, got, c.Decision)
			}
			cases++
		}
	}
	subs := specBlocks(t, "subset-example")
	if len(subs) < 3 {
		t.Fatalf("%d subset examples", len(subs))
	}
	for i, b := range subs {
		var ex struct {
			Parent, Child json.RawMessage
			Subset        bool
			Reason        string
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ex); err != nil {
			t.Fatalf("subset example %d: %v", i, err)
		}
		ok, why := Subset(mustSet(t, string(ex.Child)), mustSet(t, string(ex.Parent)))
		if ok != ex.Subset || why != ex.Reason {
			t.Errorf("subset example %d: got %v %q, want %v %q", i, ok, why, ex.Subset, ex.Reason)
		}
	}
	refused := specBlocks(t, "scope-refused")
	if len(refused) < 3 {
		t.Fatalf("%d refusal examples", len(refused))
	}
	for i, b := range refused {
		var ex struct {
			Scopes       json.RawMessage
			Code, Member string
		}
		if err := json.Unmarshal(b, &ex); err != nil {
			t.Fatalf("refusal example %d: %v", i, err)
		}
		_, err := Parse(ex.Scopes)
		e, _ := err.(*Error)
		if e == nil || string(e.Code) != ex.Code || e.Member != ex.Member {
			t.Errorf("refusal example %d: %v, want %s at %s", i, err, ex.Code, ex.Member)
		}
	}
	t.Logf("%d evaluation cases, %d subset examples, %d refusals", cases, len(subs), len(refused))
}

// TestSpecDocumentsCodes: every refusal code, reason and limit is in the spec.
func TestSpecDocumentsCodes(t *testing.T) {
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range AllCodes {
		if !bytes.Contains(spec, []byte("| `"+string(c)+"` |")) {
			t.Errorf("spec lacks code %s", c)
		}
	}
	for _, r := range AllReasons {
		if !bytes.Contains(spec, []byte("| `"+string(r)+"` |")) {
			t.Errorf("spec lacks reason %s", r)
		}
	}
	for _, lim := range []string{"| 256 |", "| 64 each |", "| 1024 |", "| 4096 |"} {
		if !strings.Contains(string(spec), lim) {
			t.Errorf("spec lacks limit %s", lim)
		}
	}
}
