package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// checkKeysReference is the implementation checkKeys replaced: a walk of
// the body with json.Decoder.Token and Decode(&json.RawMessage). checkKeys
// must give the same answer for every input, malformed ones included.
func checkKeysReference(body []byte, known map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return nil
		}
		if !known[key] {
			return errorf(http.StatusBadRequest, CodeBadJSON, "request body: unknown field %s", echo(key))
		}
		if seen[key] {
			return errorf(http.StatusBadRequest, CodeBadJSON, "request body: duplicate field %s", echo(key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// benchActionBody is a signed action body as the throughput benchmark
// sends it.
const benchActionBody = `{"id":"urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100","action":"data/read","resource":"bench/x","args":{"size":3},"credential":"urn:uuid:011eff60-66b5-45f0-95ce-02d8e7cd5e89"}`

func BenchmarkCheckKeys(b *testing.B) {
	body := []byte(benchActionBody)
	known := jsonFields(&ActionRequest{})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkKeys(body, known); err != nil {
			b.Fatal(err)
		}
	}
}

// checkKeysText is err's text, or "nil".
func checkKeysText(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// checkKeysCases are bodies checkKeys must judge as checkKeysReference
// does, with the known fields of ActionRequest.
var checkKeysCases = []string{
	// Bodies of the real endpoints.
	benchActionBody,
	`{"id":"a-0123456789abcdef","action":"message/send","resource":"agents/x","counterparty":"did:web:b.example","content":"hi","credential":"c"}`,
	`{"id":"x","action":"a","resource":"r","content_digest":"sha256:00","content":null,"credential":"c","args":null}`,
	`{"id":"x","args":{"nested":{"id":1,"bogus":[{"id":2}]},"id":"again"},"credential":"c"}`,
	`{"reason":"maintenance","resource":"agents/x"}`,
	"{\n  \"id\" : \"x\" ,\n\t\"action\"\r: [1, 2.5e-3, -0, true, false, null, \"s\\\"\"] }\n",
	` 	
{}`,
	`{}`,
	`{ }`,
	`{"id":1}trailing garbage`,
	`{"id":1} {"bogus":1}`,
	`{"id":1}}`,
	`{"id":1}]`,
	// Unknown and duplicate names, and which comes first.
	`{"bogus":1}`,
	`{"ID":1}`,
	`{"id ":1}`,
	`{"":1}`,
	`{"id":1,"id":2}`,
	`{"id":1,"action":2,"id":3,"bogus":4}`,
	`{"id":1,"bogus":2,"id":3}`,
	`{"id":1,"args":{},"resource":"r","args":[]}`,
	`{"` + strings.Repeat("x", 300) + `":1}`,
	`{"` + strings.Repeat("é", 100) + `":1}`,
	// Escaped names.
	`{"\u0069d":1}`,
	`{"\u0069d":1,"id":2}`,
	`{"id":1,"\u0069\u0064":2}`,
	`{"\u0049D":1}`,
	`{"i\"d":1}`,
	`{"\/id":1}`,
	`{"\\":1}`,
	`{"\ud83d\ude00":1}`,
	`{"\ud83d":1}`,
	`{"\ude00\ud83d":1}`,
	`{"\ud83d\u0069d":1}`,
	`{"\u00e9\n\t\b\f\r":1}`,
	`{"\u006":1}`,
	`{"\u006g":1}`,
	`{"\x":1}`,
	`{"id\`,
	`{"id\u00`,
	// Names with invalid UTF-8, which encoding/json replaces by U+FFFD.
	"{\"\xffid\":1}",
	"{\"i\xc3d\":1}",
	"{\"\xed\xa0\x80\":1}",
	"{\"\xef\xbf\xbd\":1,\"\xff\":2}",
	"{\"\xff\":1,\"\xfe\":2}",
	"{\"\xff\\u0069\":1}",
	"{\"id\":\"\xff\xfe\",\"action\":1}",
	// Control characters.
	"{\"i\x01d\":1}",
	"{\"id\":\"\n\"}",
	"{\"id\":\"\x7f\"}",
	// Nested names that are not members of the body.
	`{"args":{"bogus":1,"bogus":2}}`,
	`{"args":[{"bogus":1}],"id":1}`,
	`{"args":{"a":{"b":{"c":[[[{"bogus":{}}]]]}}},"credential":"c"}`,
	// Truncated bodies.
	`{`,
	`{"`,
	`{"id`,
	`{"id"`,
	`{"bogus"`,
	`{"bogus"x`,
	`{"id":`,
	`{"id": `,
	`{"id":1`,
	`{"id":1,`,
	`{"id":1, "bogus`,
	`{"id":1, "bogus"`,
	`{"id":"x`,
	`{"id":{"a":1`,
	`{"id":[1,2`,
	`{"id":tru`,
	`{"id":-`,
	`{"id":1.`,
	`{"id":1e`,
	`{"id":1e+`,
	`{"id":1,"id"`,
	`{"args":{"x":1},"id":[`,
	// Malformed objects, with names before the syntax error.
	`{"id":1,}`,
	`{"id":1,,"x":2}`,
	`{"id" 1}`,
	`{"id"::1}`,
	`{"id":1 "bogus":2}`,
	`{"id":1;"bogus":2}`,
	`{"bogus":}`,
	`{"bogus" 1}`,
	`{"id":01,"bogus":1}`,
	`{"id":0,"bogus":1}`,
	`{"id":-0.5e+7,"bogus":1}`,
	`{"id":1.5E7,"bogus":1}`,
	`{"id":truex,"bogus":1}`,
	`{"id":nul,"bogus":1}`,
	`{"id":True,"bogus":1}`,
	`{"id":[1,],"bogus":1}`,
	`{"id":[01],"bogus":1}`,
	`{"id":{"a":1,},"bogus":1}`,
	`{"id":{"a"},"bogus":1}`,
	`{"id":{1:2},"bogus":1}`,
	`{"id":[}],"bogus":1}`,
	`{"id":{]},"bogus":1}`,
	`{"id":'x',"bogus":1}`,
	`{"id":1e400,"bogus":1}`,
	`{"id":"a"]`,
	`{"id":1]"bogus":1}`,
	`{,"id":1}`,
	`{:}`,
	`{1:2}`,
	`{{}}`,
	`{[]}`,
	`{'id':1}`,
	`{id:1}`,
	"{\"id\":1,\v\"bogus\":1}",
	"{\"id\":1,\u00a0\"bogus\":1}",
	"\xef\xbb\xbf{\"bogus\":1}",
	// Non-object bodies.
	``,
	` `,
	"\n\t\r ",
	`null`,
	`true`,
	`1`,
	`"id"`,
	`[]`,
	`["bogus"]`,
	`["id",1,"bogus",2]`,
	`["id",1,"id",2]`,
	`["id":1]`,
	`["id",1 "bogus",2]`,
	`[1,"bogus"]`,
	`[{"bogus":1}]`,
	`[["bogus"]]`,
	`["id",]`,
	`["id"`,
	`["id",1,`,
	`"x" "bogus" 1`,
	`"x""id"1"id"2`,
	`"x" "id" 1 "bogus"`,
	`1 "bogus"`,
	`1e400 "bogus"`,
	`-1e400 "bogus"`,
	`1e-400 "bogus"`,
	`1.0000000000000000000000001 "bogus"`,
	`null "bogus"`,
	`true"bogus"`,
	`truex "bogus"`,
	`0 "bogus"`,
	`01 "bogus"`,
	`"x" {"bogus":1}`,
	`"x" ["bogus"]`,
	`"x" : "bogus"`,
	`"x" , "bogus"`,
	`"x" } "bogus"`,
	`} "bogus"`,
	`]`,
	`:`,
	`,`,
	`x`,
	// Deep nesting, at and over encoding/json's limit.
	`{"args":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `,"bogus":1}`,
	`{"args":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,"bogus":1}`,
	`{"args":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"bogus":1}`,
	`{"args":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `,"bogus":1}`,
	`{"args":` + strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001) + `,"bogus":1}`,
	`{"args":` + strings.Repeat(`[{"a":`, 70) + "1" + strings.Repeat("}]", 70) + `,"bogus":1}`,
	`{"args":` + strings.Repeat(`[{"a":`, 70) + "1" + strings.Repeat("]}", 70) + `,"bogus":1}`,
	strings.Repeat("[", 20000) + `"bogus"`,
	// More members than keySet holds without a map.
	manyMembers(40, false),
	manyMembers(40, true),
}

// manyMembers is an object with n distinct members, the last a repeat of
// the first if dup.
func manyMembers(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		name := "f" + strconv.Itoa(i)
		if dup && i == n-1 {
			name = "f0"
		}
		fmt.Fprintf(&b, "%q:%d", name, i)
	}
	b.WriteString("}")
	return b.String()
}

// manyKnown knows the names of manyMembers and those of ActionRequest.
func manyKnown() map[string]bool {
	known := jsonFields(&ActionRequest{})
	for i := range 100 {
		known["f"+strconv.Itoa(i)] = true
	}
	return known
}

func TestCheckKeysMatchesReference(t *testing.T) {
	for _, known := range []map[string]bool{jsonFields(&ActionRequest{}), manyKnown(), {"\ufffd": true, "id": true}, {}} {
		for _, body := range checkKeysCases {
			want := checkKeysText(checkKeysReference([]byte(body), known))
			if got := checkKeysText(checkKeys([]byte(body), known)); got != want {
				t.Errorf("checkKeys(%.80q) with %d known = %s, want %s", body, len(known), got, want)
			}
		}
	}
}

// TestCheckKeys pins some answers so that a change to both implementations
// does not go unnoticed.
func TestCheckKeys(t *testing.T) {
	known := jsonFields(&ActionRequest{})
	for _, tc := range []struct{ body, want string }{
		{benchActionBody, ""},
		{`{"args":{"bogus":1,"bogus":2}}`, ""},
		{`{"bogus":1}`, `unknown field "bogus"`},
		{`{"id":1,"id":2}`, `duplicate field "id"`},
		{`{"\u0069d":1,"id":2}`, `duplicate field "id"`},
		{"{\"\xffid\":1}", "unknown field \"\ufffdid\""},
		{`{"id":1,"bogus"`, `unknown field "bogus"`},
		{`{"id":1 "bogus":2}`, ""},
		{`{"id":tru,"bogus":1}`, ""},
		{`["bogus"]`, `unknown field "bogus"`},
		{``, ""},
	} {
		err := checkKeys([]byte(tc.body), known)
		got := ""
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || ae.code != CodeBadJSON {
				t.Errorf("checkKeys(%q) = %v, want a 400 bad_json", tc.body, err)
				continue
			}
			got = strings.TrimPrefix(ae.message, "request body: ")
		}
		if got != tc.want {
			t.Errorf("checkKeys(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestCheckKeysAllocs(t *testing.T) {
	body := []byte(benchActionBody)
	known := jsonFields(&ActionRequest{})
	if n := testing.AllocsPerRun(100, func() {
		if err := checkKeys(body, known); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("checkKeys allocates %v times per call, want 0", n)
	}
}

func FuzzCheckKeys(f *testing.F) {
	for _, body := range checkKeysCases {
		if len(body) < 1000 {
			f.Add([]byte(body))
		}
	}
	known := jsonFields(&ActionRequest{})
	known["\ufffd"] = true
	known["a"] = true
	f.Fuzz(func(t *testing.T, body []byte) {
		want := checkKeysText(checkKeysReference(body, known))
		if got := checkKeysText(checkKeys(body, known)); got != want {
			t.Errorf("checkKeys(%q) = %s, want %s", body, got, want)
		}
	})
}
