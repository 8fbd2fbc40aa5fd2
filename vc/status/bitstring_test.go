package status

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"strings"
	"testing"
)

// The example encodedList of Bitstring Status List v1.0 §3.2 (Example
// BitstringStatusListCredential): 16 KiB, all bits 0.
const specExample = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

func TestDecodeSpecExample(t *testing.T) {
	b, err := Decode(specExample)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != MinBits {
		t.Fatalf("Len = %d, want %d", b.Len(), MinBits)
	}
	if n := b.Count(); n != 0 {
		t.Fatalf("%d bits set, the example has none", n)
	}
	// Our encoder's bytes differ from zlib's (the spec fixes the inflated
	// value, not the deflate stream): the round trip is on the value.
	again, err := Decode(mustEncode(t, b))
	if err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
		t.Fatalf("re-encoded example does not decode to the same bits: %v", err)
	}
}

// An encodedList from an independent encoder (CPython's gzip; see
// testdata/README.md) pins the bit order: index 0 is the MSB of byte 0.
func TestDecodeIndependentVectorBitOrder(t *testing.T) {
	raw, err := os.ReadFile("testdata/python-gzip-bits-0-7-8-94567-131071.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]bool{0: true, 7: true, 8: true, 94567: true, 131071: true}
	for i := uint64(0); i < b.Len(); i++ {
		got, err := b.Get(i)
		if err != nil {
			t.Fatal(err)
		}
		if got != want[i] {
			t.Fatalf("bit %d = %v, want %v", i, got, want[i])
		}
	}
	by := b.Bytes()
	if by[0] != 0x81 || by[1] != 0x80 || by[len(by)-1] != 0x01 || by[94567/8] != 0x80>>(94567%8) {
		t.Fatalf("bytes %x %x .. %x: bit order is not MSB first", by[0], by[1], by[len(by)-1])
	}
}

func TestBitstringSetGetRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		set  []uint64
	}{
		{"none", nil},
		{"first", []uint64{0}},
		{"last", []uint64{MinBits - 1}},
		{"byte edges", []uint64{7, 8, 15, 16}},
		{"many", []uint64{1, 2, 3, 1000, 65535, 65536, 100000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustBits(t, tc.set...)
			if b.Count() != len(tc.set) {
				t.Fatalf("Count = %d, want %d", b.Count(), len(tc.set))
			}
			d, err := Decode(mustEncode(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Bytes(), b.Bytes()) {
				t.Fatal("round trip changed the bits")
			}
			for _, i := range tc.set {
				if v, _ := d.Get(i); !v {
					t.Fatalf("bit %d lost", i)
				}
				if err := d.Set(i, false); err != nil {
					t.Fatal(err)
				}
			}
			if d.Count() != 0 {
				t.Fatalf("clearing left %d bits", d.Count())
			}
		})
	}
}

func TestBitstringRefusals(t *testing.T) {
	b := mustBits(t)
	if _, err := b.Get(MinBits); CodeOf(err) != CodeIndexOutOfRange {
		t.Fatalf("Get(len): %v", err)
	}
	wantCode(t, b.Set(MinBits, true), CodeIndexOutOfRange)
	for _, n := range []int{0, 8, MinBits - 8, MinBits + 1, DefaultMaxBytes*8 + 8} {
		if _, err := NewBitstring(n); CodeOf(err) != CodeMalformed {
			t.Fatalf("NewBitstring(%d): %v", n, err)
		}
	}
	if _, err := BitstringFromBytes(make([]byte, MinBits/8-1)); CodeOf(err) != CodeListTooShort {
		t.Fatalf("short bytes: %v", err)
	}
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func u(b []byte) string { return "u" + base64.RawURLEncoding.EncodeToString(b) }

func TestDecodeRefusals(t *testing.T) {
	good := gz(t, make([]byte, MinBits/8))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-5] ^= 1 // the CRC-32
	twoMembers := append(bytes.Clone(good), good...)
	tests := []struct {
		name string
		in   string
		code Code
	}{
		{"empty", "", CodeMalformed},
		{"no multibase prefix", base64.RawURLEncoding.EncodeToString(good), CodeMalformed},
		{"base58 prefix", "z" + base64.RawURLEncoding.EncodeToString(good), CodeMalformed},
		{"padding", u(good) + "=", CodeMalformed},
		{"standard alphabet", "u" + strings.ReplaceAll(strings.ReplaceAll(u(good)[1:], "-", "+"), "_", "/") + "+", CodeMalformed},
		{"not gzip", u(make([]byte, 64)), CodeMalformed},
		{"truncated gzip", u(good[:len(good)-4]), CodeMalformed},
		{"bad crc", u(corrupt), CodeMalformed},
		{"two members", u(twoMembers), CodeMalformed},
		{"trailing garbage", u(append(bytes.Clone(good), 0)), CodeMalformed},
		{"too short", u(gz(t, make([]byte, MinBits/8-1))), CodeListTooShort},
		{"empty bitstring", u(gz(t, nil)), CodeListTooShort},
		{"bomb", u(gz(t, make([]byte, DefaultMaxBytes+1))), CodeListTooLarge},
		{"compressed too large", "u" + strings.Repeat("A", MaxCompressedBytes*4/3+8), CodeListTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestDecodeLimit(t *testing.T) {
	s := u(gz(t, make([]byte, 4*MinBits/8)))
	if _, err := DecodeLimit(s, 4*MinBits/8); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	wantCode(t, func() error { _, err := DecodeLimit(s, 4*MinBits/8-1); return err }(), CodeListTooLarge)
}

func FuzzDecode(f *testing.F) {
	f.Add(specExample)
	f.Add("u")
	f.Add("uH4sIAAAAAAAA")
	f.Add(u(gz(f, make([]byte, MinBits/8))))
	f.Add(u(gz(f, bytes.Repeat([]byte{0xa5}, MinBits/8))))
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeLimit(s, 1<<20)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if b.Len() < MinBits || b.Len() > 8<<20 {
			t.Fatalf("accepted a list of %d bits", b.Len())
		}
		// Whatever decodes re-encodes to the same bits.
		again, err := Decode(mustEncode(t, b))
		if err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
			t.Fatalf("re-encoding changed the bits: %v", err)
		}
	})
}
