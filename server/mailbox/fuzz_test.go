package mailbox

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeRecord: a record that decodes re-encodes to a record that
// decodes to the same message, and to the same bytes once canonical.
func FuzzDecodeRecord(f *testing.F) {
	good, err := json.Marshal(msg(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"a","extra":1}`))
	f.Add(append(append([]byte{}, good...), good...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record %s does not decode: %v", again, err)
		}
		if m2 != m {
			t.Fatalf("round trip changed %+v to %+v", m, m2)
		}
		third, _ := json.Marshal(m2)
		if !bytes.Equal(third, again) {
			t.Fatalf("encoding not stable: %s, %s", again, third)
		}
	})
}
