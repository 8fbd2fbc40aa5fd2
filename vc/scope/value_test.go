package scope

import (
	"math/big"
	"strings"
	"testing"
)

func TestParseNumber(t *testing.T) {
	good := []struct{ in, canon string }{
		{"0", "0"}, {"-0", "0"}, {"0.000", "0"}, {"1", "1"}, {"-1", "-1"}, {"100", "100"},
		{"100.0", "100"}, {"1e2", "100"}, {"1E+2", "100"}, {"1e0002", "100"}, {"0.1", "0.1"},
		{"0.30", "0.3"}, {"12.5e-1", "1.25"}, {"1e-7", "0.0000001"}, {"1e-8", "1e-8"},
		{"123456789012345678901234567890", "123456789012345678901234567890"},
		{"1e64", "1e64"}, {"1e63", "1" + strings.Repeat("0", 63)}, {"1e62", "1" + strings.Repeat("0", 62)},
		{"0.00000000000000000000000000000000000000000000000000000000000000000000000000000001", "1e-80"},
		{strings.Repeat("9", 64), strings.Repeat("9", 64)},
		{"1" + strings.Repeat("0", 63) + ".000", "1" + strings.Repeat("0", 63)}, {"1e9999", "1e9999"}, {"1e-9999", "1e-9999"},
	}
	for _, tt := range good {
		n, err := ParseNumber(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if n.String() != tt.canon {
			t.Errorf("%s: canonical %s, want %s", tt.in, n.String(), tt.canon)
		}
		m, err := ParseNumber(n.String())
		if err != nil || m != n {
			t.Errorf("%s: canonical %s does not parse back (%v)", tt.in, n.String(), err)
		}
	}
	bad := []string{"", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "1_000",
		" 1", "1 ", "1.5.5", strings.Repeat("9", 65), "1" + strings.Repeat("0", 1024), "1" + strings.Repeat("0", 63) + "1", "1e10000", "1e-10000", "1e99999", "10e9999"}
	for _, in := range bad {
		if _, err := ParseNumber(in); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}

func TestNumberCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"100", "100.0000000001", -1},
		{"0.3", "0.30000000000000004", -1}, // 0.1+0.2 in float64 is not 0.3
		{"0.3", "0.3", 0},
		{"1e2", "100", 0},
		{"-1", "1", -1},
		{"-2", "-1", -1},
		{"0", "-0.0001", 1},
		{"0.2", "0.15", 1},
		{"1", "1.5", -1},
		{"99", "100", -1},
		{"1e-9999", "0", 1},
		{"-1e9999", "-1e9998", -1},
		{"12345678901234567890123456789012345678901234567890123456789012", "12345678901234567890123456789012345678901234567890123456789013", -1},
	}
	for _, tt := range tests {
		a, _ := ParseNumber(tt.a)
		b, _ := ParseNumber(tt.b)
		if got := a.Cmp(b); got != tt.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Cmp(a); got != -tt.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// FuzzNumber checks ParseNumber against math/big.Rat, an independent exact
// decimal reader, and that canonical text parses back.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-1.5", "1e2", "100.0000000001", "0.000123e-4", "9e9999", "-0", "1.0e+3", "12345678901234567890.123"} {
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		na, err := ParseNumber(a)
		if err != nil {
			return
		}
		if m, err := ParseNumber(na.String()); err != nil || m != na {
			t.Fatalf("%q: canonical %q does not parse back: %v", a, na.String(), err)
		}
		nb, err := ParseNumber(b)
		if err != nil {
			return
		}
		// big.Rat would need enormous numbers for large exponents: compare
		// only moderate ones with it.
		if abs32(na.exp) > 400 || abs32(nb.exp) > 400 {
			return
		}
		ra, ok1 := new(big.Rat).SetString(a)
		rb, ok2 := new(big.Rat).SetString(b)
		if !ok1 || !ok2 {
			t.Fatalf("big.Rat refuses %q or %q", a, b)
		}
		if got, want := na.Cmp(nb), ra.Cmp(rb); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, big.Rat says %d", a, b, got, want)
		}
	})
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestParseValue(t *testing.T) {
	good := map[string]Value{
		`1.50`:       num(t, "1.5"),
		`"x"`:        StringValue("x"),
		`true`:       BoolValue(true),
		`["a",1]`:    ListValue(StringValue("a"), IntValue(1)),
		`[]`:         ListValue(),
		`"\u00e9"`:   StringValue("é"),
		` "padded" `: StringValue("padded"),
	}
	for in, want := range good {
		v, err := ParseValue([]byte(in))
		if err != nil || !v.Equal(want) {
			t.Errorf("%s: %v %v", in, v, err)
		}
	}
	bad := []string{`null`, `{}`, `[[1]]`, `1 2`, `"\xff"`, `01`, `NaN`, `1e10000`, `"` + strings.Repeat("a", 1025) + `"`,
		`[` + strings.Repeat(`1,`, 256) + `1]`, `[null]`, ``}
	for _, in := range bad {
		if _, err := ParseValue([]byte(in)); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}
