package ldp

import (
	"errors"
	"testing"
)

func TestLostTerm(t *testing.T) {
	l, err := NewLoader(map[string][]byte{"https://example.org/c": []byte(
		`{"@context":{"@version":1.1,"id":"@id","type":"@type","x":"https://example.org/x",` +
			`"s":{"@id":"https://example.org/s","@type":"@id"},"n":{"@id":"https://example.org/n"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc, path string
		err             error
	}{
		{"every member defined", `{"@context":"https://example.org/c","x":"a","n":{"x":[1]}}`, "", nil},
		{"a node with only an id compacts to it", `{"@context":"https://example.org/c","s":{"id":"https://example.org/a"}}`, "", nil},
		{"undefined at the top", `{"@context":"https://example.org/c","x":"a","y":"b"}`, "/y", nil},
		{"undefined nested", `{"@context":"https://example.org/c","n":{"x":"a","zz":1}}`, "/n/zz", nil},
		{"the first lost in key order", `{"@context":"https://example.org/c","b":1,"a":2}`, "/a", nil},
		{"a remote context", `{"@context":"https://example.org/other","x":"a"}`, "", ErrContextNotLoaded},
		{"not an object", `[1]`, "", ErrNotJSONObject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := LostTerm([]byte(tc.doc), l)
			if path != tc.path || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("LostTerm = %q, %v; want %q, %v", path, err, tc.path, tc.err)
			}
		})
	}
}
