package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		names    []string
		err      string // substring of the refusal; "" accepts
	}{
		{"empty object", `{}`, nil, ""},
		{"order kept", ` {"b":1,"a":{"x":[1,2]}} `, []string{"b", "a"}, ""},
		{"nested duplicate is not Parse's business", `{"a":{"x":1,"x":2}}`, []string{"a"}, ""},
		{"duplicate", `{"a":1,"a":2}`, nil, `duplicate member "a"`},
		{"array", `[1]`, nil, "not a JSON object"},
		{"string", `"x"`, nil, "not a JSON object"},
		{"trailing data", `{"a":1} {}`, nil, "data after the JSON object"},
		{"empty", ``, nil, "EOF"},
		{"truncated", `{"a":`, nil, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Parse([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%s) = %v, want an error with %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.in, err)
			}
			if got := strings.Join(o.Names(), ","); got != strings.Join(tc.names, ",") {
				t.Fatalf("Names() = %q, want %q", got, tc.names)
			}
			for _, n := range tc.names {
				if _, ok := o.Get(n); !ok {
					t.Fatalf("Get(%q) missing", n)
				}
			}
			if _, ok := o.Get("absent"); ok {
				t.Fatal(`Get("absent") found`)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	o, err := Parse([]byte(`{"a":1,"b":2,"c":3}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name               string
		required, optional []string
		want               string
	}{
		{"exact", []string{"a", "b"}, []string{"c", "d"}, ""},
		{"missing before unknown", []string{"z"}, nil, `claim set: member "z" missing`},
		{"unknown", []string{"a"}, []string{"b"}, `claim set: member "c" not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := o.Members("claim set", tc.required, tc.optional)
			if got := errText(err); got != tc.want {
				t.Fatalf("Members = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`"a\u00e9"`, "aé", ""},
		{`null`, "", "not a string"},
		{`1`, "", "not a string"},
		{``, "", "not a string"},
		{`"unterminated`, "", "unexpected end"},
	} {
		got, err := String(json.RawMessage(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("String(%s) = %q, %v, want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("String(%s) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestExactStrings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`["x","y"]`, ""},
		{`null`, "vc.type is not an array"},
		{`"x"`, "vc.type is not an array"},
		{`["x"]`, `vc.type has 1 entries, want ["x" "y"]`},
		{`["x",1]`, `vc.type[1] is not "y"`},
		{`["y","x"]`, `vc.type[0] is not "x"`},
	} {
		if got := errText(ExactStrings(json.RawMessage(tc.in), "vc.type", "x", "y")); got != tc.want {
			t.Errorf("ExactStrings(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNumericDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1700000000", 1700000000, true},
		{"999999999999", 999999999999, true},
		{"1000000000000", 0, false}, // 13 digits
		{"01", 0, false},
		{"-1", 0, false},
		{"1.0", 0, false},
		{"1e9", 0, false},
		{`"1"`, 0, false},
		{"", 0, false},
	} {
		got, err := NumericDate(json.RawMessage(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NumericDate(%s) = %d, %v, want %d (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "is not a NumericDate in whole seconds") {
			t.Errorf("NumericDate(%s): error %q", tc.in, err)
		}
	}
}

func TestNoDuplicates(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2)
	for _, tc := range []struct{ in, want string }{
		{`{"a":{"x":1,"y":[{"x":1},{"x":2}]}}`, ""},
		{`{"a":{"x":1,"x":2}}`, `duplicate member "x"`},
		{`[{"a":[{"b":1,"b":1}]}]`, `duplicate member "b"`},
		{`1`, ""},
		{deep, "JSON nested too deeply"},
	} {
		if got := errText(NoDuplicates([]byte(tc.in))); got != tc.want {
			t.Errorf("NoDuplicates(%.40s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParse: whatever Parse accepts re-encodes, member by member, to an
// object that encoding/json reads with the same members.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,{"c":null}]}`, `{"a":1,"a":2}`, `{"a":1}x`, `[]`, `{"a":{"b":{"b":1,"b":2}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		_ = NoDuplicates(data)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("Parse accepted what encoding/json refuses: %v", err)
		}
		if len(m) != len(o.Names()) {
			t.Fatalf("%d members, encoding/json sees %d", len(o.Names()), len(m))
		}
		for _, n := range o.Names() {
			v, _ := o.Get(n)
			if !json.Valid(v) {
				t.Fatalf("member %q: invalid JSON %q", n, v)
			}
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
