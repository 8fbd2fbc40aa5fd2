package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
	"golang.org/x/mod/sumdb/note"
)

// benchAnswerOrigin is the log origin of the answers made here.
const benchAnswerOrigin = "clawnet.test/bench-answer"

// realShapedAnswer is the answer the server sends to the bench action id
// when it logs it at index in a log of about 2^proofLen entries: the
// fields of server.actionAnswer, in its order, encoded as the server
// encodes them (encoding/json, the receipt compacted, a final newline),
// with a real entry and a real signed checkpoint.
func realShapedAnswer(tb testing.TB, id string, index uint64, proofLen int) []byte {
	tb.Helper()
	e := transparency.Entry{Version: transparency.EntryVersion, Type: "action.decision",
		Time:  time.Date(2026, 7, 1, 12, 30, 45, 123456789, time.UTC),
		Actor: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", Owner: "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
		Subject: id, Authz: &transparency.AuthzRef{Credential: "urn:uuid:5c0b7a86-55a6-4b8a-9d2c-1f6e3d0c2b11", Digest: transparency.DigestSHA256(sha256.Sum256([]byte("cred")))},
		Action: benchAction, Resource: "bench/" + id, Decision: transparency.DecisionAllowed, Reason: `allow by scope "bench"`,
		RequestDigest: transparency.DigestSHA256(sha256.Sum256([]byte(id)))}
	eb, err := e.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, benchAnswerOrigin)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	signed, err := transparency.SignCheckpoint(transparency.Checkpoint{Origin: benchAnswerOrigin, Size: index + 1, Root: sha256.Sum256([]byte("root"))}, s)
	if err != nil {
		tb.Fatal(err)
	}
	proof := make([]transparency.Hash, proofLen)
	for i := range proof {
		proof[i] = sha256.Sum256([]byte{byte(i)})
	}
	rc := &transparency.Receipt{Format: transparency.ReceiptFormat, Index: index, Entry: eb, InclusionProof: proof, Checkpoint: string(signed)}
	b, err := json.Marshal(struct {
		ID       string                `json:"id"`
		Decision transparency.Decision `json:"decision"`
		Reason   string                `json:"reason"`
		Index    uint64                `json:"index"`
		Receipt  *transparency.Receipt `json:"receipt"`
	}{id, transparency.DecisionAllowed, e.Reason, index, rc})
	if err != nil {
		tb.Fatal(err)
	}
	return append(b, '\n')
}

// BenchmarkCheckActionAnswerLight is the generator's cost of the check of
// an answer outside the verified sample, for a log of about 2^20 entries.
func BenchmarkCheckActionAnswerLight(b *testing.B) {
	id := "bench-0123456789abcdef-3-1742"
	answer := realShapedAnswer(b, id, 1_234_567, 20)
	want := benchExpect{id: id}
	b.SetBytes(int64(len(answer)))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkActionAnswer(http.StatusOK, answer, want, nil, false); err != nil {
			b.Fatal(err)
		}
	}
}

// checkActionAnswerUnmarshal is the light check as it was, with
// json.Unmarshal: the reference checkActionAnswerLight is compared with.
func checkActionAnswerUnmarshal(b []byte, want benchExpect) error {
	var a struct {
		ID       string                `json:"id"`
		Decision transparency.Decision `json:"decision"`
		Reason   string                `json:"reason"`
		Index    uint64                `json:"index"`
		Receipt  *struct {
			Format string  `json:"format"`
			Index  *uint64 `json:"index"`
		} `json:"receipt"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("not an action answer: %w", err)
	}
	if err := checkActionDecision(a.ID, a.Decision, a.Reason, want); err != nil {
		return err
	}
	switch {
	case a.Receipt == nil:
		return errors.New("no receipt")
	case a.Receipt.Format != transparency.ReceiptFormat || a.Receipt.Index == nil:
		return fmt.Errorf("not a receipt: format %q", a.Receipt.Format)
	case *a.Receipt.Index != a.Index:
		return fmt.Errorf("the receipt is for entry %d, the answer says %d", *a.Receipt.Index, a.Index)
	}
	return nil
}

// refusedOnPurpose reports whether b is a JSON object that names a member
// the light check reads (top level: id, decision, reason, index, receipt;
// in a receipt: format, index) twice, or in another spelling that
// encoding/json matches to it (case, Unicode folding, "ſ" for "s"): the
// answers checkActionAnswerLight refuses and json.Unmarshal does not. It
// walks the tokens of encoding/json's Decoder, independently of the
// scanner.
func refusedOnPurpose(b []byte) bool {
	if !json.Valid(b) {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if t, _ := d.Token(); t != json.Delim('{') {
		return false
	}
	// object reads the members of an object whose '{' was read, and
	// reports a refused name among names; a member whose name folds to
	// nested has its object value read with nestedNames.
	var object func(names []string, nested string, nestedNames []string) bool
	object = func(names []string, nested string, nestedNames []string) bool {
		seen := map[string]bool{}
		refused := false
		for d.More() {
			t, _ := d.Token()
			key := t.(string)
			for _, n := range names {
				if strings.EqualFold(key, n) {
					refused = refused || key != n || seen[n]
					seen[n] = true
				}
			}
			if nested != "" && strings.EqualFold(key, nested) {
				var v json.RawMessage
				d.Decode(&v)
				if len(v) > 0 && v[0] == '{' {
					sub := json.NewDecoder(bytes.NewReader(v))
					sub.Token()
					outer := d
					d = sub
					refused = object(nestedNames, "", nil) || refused
					d = outer
				}
				continue
			}
			var skip json.RawMessage
			d.Decode(&skip)
		}
		d.Token() // '}'
		return refused
	}
	return object(answerMembers[:], "receipt", receiptMembers[:])
}

// wantSameVerdict fails t unless checkActionAnswerLight accepts b exactly
// when checkActionAnswerUnmarshal does, except for the answers it refuses
// on purpose.
func wantSameVerdict(t testing.TB, b []byte, want benchExpect) {
	t.Helper()
	got := checkActionAnswerLight(b, want)
	ref := checkActionAnswerUnmarshal(b, want)
	onPurpose := refusedOnPurpose(b)
	if (got == nil) != (ref == nil && !onPurpose) {
		t.Fatalf("light check: %v\njson.Unmarshal check: %v\nrefused on purpose: %v\nanswer %q", got, ref, onPurpose, b)
	}
}

// serverAnswers returns answers of a real clawnet serve to bench actions,
// taken on their way through a proxy as the wrong-answer tests take them.
func serverAnswers(t *testing.T) [][]byte {
	var mu sync.Mutex
	var answers [][]byte
	u := actionProxy(t, func(st int, b []byte) (int, []byte) {
		mu.Lock()
		defer mu.Unlock()
		if st == http.StatusOK && len(answers) < 4 {
			answers = append(answers, bytes.Clone(b))
		}
		return st, b
	})
	code, out, errOut := runExit(t, "bench", "actions", "--server", u, "--agents", "2", "--duration", "100ms", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answers) == 0 {
		t.Fatal("no answers")
	}
	return answers
}

// answerID is the id of an answer, as encoding/json reads it.
func answerID(t testing.TB, b []byte) string {
	var a struct{ ID string }
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// answerVariants are answers to the request id built member by member:
// the server's answer, its members reordered, repeated, respelled,
// escaped, of other types, look-alikes nested elsewhere, white space.
func answerVariants(id string) []string {
	obj := func(ms ...string) string { return "{" + strings.Join(ms, ",") + "}" }
	var (
		idM      = `"id":"` + id + `"`
		decM     = `"decision":"allowed"`
		reasonM  = `"reason":"allow by scope \"bench\""`
		indexM   = `"index":7`
		formatM  = `"format":"clawnet-receipt/v1"`
		rIndexM  = `"index":7`
		restM    = `"entry":"e30=","inclusion_proof":["AAAA","BBBB"],"checkpoint":"o\n7\nr\n\n— o sig\n"`
		receipt  = func(ms ...string) string { return `"receipt":` + obj(ms...) }
		receiptM = receipt(formatM, rIndexM, restM)
		answer   = func(ms ...string) string { return obj(ms...) }
		withTop  = func(extra ...string) string {
			return answer(append([]string{idM, decM, reasonM, indexM, receiptM}, extra...)...)
		}
		withRcpt = func(extra ...string) string {
			return answer(idM, decM, reasonM, indexM, receipt(append([]string{formatM, rIndexM, restM}, extra...)...))
		}
		escapedID = strings.ReplaceAll(id, "-", `\u002d`)
	)
	v := []string{
		answer(idM, decM, reasonM, indexM, receiptM),
		answer(receiptM, indexM, reasonM, decM, idM),
		answer(idM, decM, indexM, receiptM),                              // no reason
		answer(idM, decM, reasonM, receipt(formatM, `"index":0`, restM)), // no index, receipt 0
		answer(idM, decM, reasonM, `"index":null`, receipt(formatM, `"index":0`, restM)),
		answer(idM, decM, reasonM, indexM, receipt(rIndexM, restM, formatM)),
		answer(idM, decM, reasonM, indexM, receipt(formatM, restM)),
		answer(idM, decM, reasonM, indexM, receipt(formatM, `"index":null`, restM)),
		answer(idM, decM, reasonM, indexM, receipt(`"format":null`, rIndexM)),
		answer(idM, decM, reasonM, indexM, receipt(rIndexM)),
		answer(idM, decM, reasonM, indexM, receipt()),
		answer(idM, decM, reasonM, indexM, `"receipt":null`),
		answer(idM, decM, reasonM, indexM, `"receipt":[]`),
		answer(idM, decM, reasonM, indexM, `"receipt":"x"`),
		answer(idM, decM, reasonM, indexM, `"receipt":7`),
		answer(idM, decM, reasonM, indexM),
		answer(idM, decM, reasonM, indexM, `"receipt":null,"x":`+obj(formatM, rIndexM)),
		answer(decM, reasonM, indexM, receiptM),
		answer(idM, reasonM, indexM, receiptM),
		answer(`"id":null`, decM, reasonM, indexM, receiptM),
		answer(`"id":7`, decM, reasonM, indexM, receiptM),
		answer(`"id":"`+id+`x"`, decM, reasonM, indexM, receiptM),
		answer(`"id":"`+escapedID+`"`, decM, reasonM, indexM, receiptM),
		answer(`"\u0069d":"`+id+`"`, decM, reasonM, indexM, receiptM),
		answer(idM, `"decision":"\u0061llowed"`, reasonM, indexM, receiptM),
		answer(idM, `"decision":"Allowed"`, reasonM, indexM, receiptM),
		answer(idM, `"decision":"denied"`, reasonM, indexM, receiptM),
		answer(idM, `"decision":null`, reasonM, indexM, receiptM),
		answer(idM, `"decision":true`, reasonM, indexM, receiptM),
		answer(idM, decM, `"reason":null`, indexM, receiptM),
		answer(idM, decM, `"reason":7`, indexM, receiptM),
		answer(idM, decM, `"reason":{}`, indexM, receiptM),
		answer(idM, decM, `"reason":"\ud800 \u00e9 \/ café"`, indexM, receiptM),
		answer(idM, decM, reasonM, indexM, receipt(`"format":"clawnet-receipt\/v1"`, rIndexM)),
		answer(idM, decM, reasonM, indexM, receipt(`"format":"clawnet-receipt/v2"`, rIndexM)),
		answer(idM, decM, reasonM, indexM, receipt(`"\u0066ormat":"clawnet-receipt/v1"`, `"ind\u0065x":7`)),
		// Numbers that are not a uint64.
		answer(idM, decM, reasonM, `"index":-7`, receiptM),
		answer(idM, decM, reasonM, `"index":7.0`, receiptM),
		answer(idM, decM, reasonM, `"index":7e0`, receiptM),
		answer(idM, decM, reasonM, `"index":"7"`, receiptM),
		answer(idM, decM, reasonM, `"index":-0`, receipt(formatM, `"index":0`)),
		answer(idM, decM, reasonM, `"index":18446744073709551615`, receipt(formatM, `"index":18446744073709551615`)),
		answer(idM, decM, reasonM, `"index":18446744073709551616`, receipt(formatM, `"index":18446744073709551616`)),
		answer(idM, decM, reasonM, `"index":99999999999999999999`, receipt(formatM, `"index":99999999999999999999`)),
		answer(idM, decM, reasonM, `"index":0`, receipt(formatM, `"index":0`)),
		answer(idM, decM, reasonM, indexM, receipt(formatM, `"index":8`)),
		answer(idM, decM, reasonM, indexM, receipt(formatM, `"index":7.5`)),
		answer(idM, decM, reasonM, indexM, receipt(formatM, `"index":true`)),
		// Look-alikes where the check does not look.
		withRcpt(`"decision":"denied"`, `"id":"other"`, `"receipt":null`),
		withTop(`"format":"x"`, `"x":{"id":"other","decision":"denied","receipt":null,"index":8}`),
		answer(idM, decM, reasonM, indexM, `"x":`+obj(receiptM)),
		answer(`"x":` + obj(idM, decM, reasonM, indexM, receiptM)),
		withRcpt(`"receipt":{"format":"x","index":8}`),
		withTop(`"escalation":"","delivery":null,"answer":"denied","answer_index":3`),
		withTop(`"x":[1,-2.5e+3,true,false,null,"s",{},[],{"a":[{}]}]`),
		// Repeated and respelled members: refused on purpose.
		withTop(idM),
		withTop(`"id":"other"`),
		withTop(`"decision":"denied"`),
		withTop(reasonM),
		withTop(`"index":8`),
		withTop(receiptM),
		withTop(`"receipt":null`),
		withRcpt(formatM),
		withRcpt(`"index":8`),
		withRcpt(`"Index":7`),
		withTop(`"ID":"other"`),
		withTop(`"Decision":"allowed"`),
		withTop(`"deciſion":"allowed"`),
		withTop(`"deci\u017fion":"denied"`),
		withTop(`"REASON":""`),
		withTop(`"Receipt":null`),
		answer(`"ID":"`+id+`"`, decM, reasonM, indexM, receiptM),
		answer(idM, decM, reasonM, indexM, `"Receipt":`+obj(formatM, rIndexM)),
		answer(idM, decM, reasonM, indexM, receipt(`"FORMAT":"clawnet-receipt/v1"`, rIndexM)),
		// Not one object.
		`null`, `[]`, `"x"`, `7`, ``, ` `, `{}`,
		withTop() + withTop(),
		withTop() + ` x`,
		"[" + withTop() + "]",
	}
	// White space between every token, and none.
	spaced := strings.NewReplacer(`,`, " ,\n\t", `:`, "\r: ", `{`, "{ ", `}`, " }", `[`, "[ ", `]`, " ]").Replace(withTop())
	v = append(v, " \t\r\n"+withTop()+" \n", spaced, "\v"+withTop(), withTop()+"\x00")
	return v
}

// mutations returns b with bytes flipped, deleted and repeated at
// positions every stride apart from from, and b cut at every length.
func mutations(b []byte, from, stride int) [][]byte {
	var out [][]byte
	for n := range len(b) {
		out = append(out, b[:n])
	}
	repl := []byte(`"\\{}[],: 01-.eEntfu/x` + "\x00\x1f\x7f\x80\xc3\xff\t\n")
	for i := from; i < len(b); i += stride {
		out = append(out, append(bytes.Clone(b[:i]), b[i+1:]...))
		out = append(out, append(bytes.Clone(b[:i+1]), b[i:]...))
		for _, c := range append(repl, b[i]^0x20, b[i]^1, b[i]+1) {
			m := bytes.Clone(b)
			m[i] = c
			out = append(out, m)
		}
	}
	return out
}

// TestCheckActionAnswerLightMatchesUnmarshal: the light check accepts
// exactly what the json.Unmarshal check it replaced accepts, except
// repeated and respelled members it refuses on purpose, on real answers
// (of a real server and built like its), on variants built member by
// member, on every mutation of those at sampled positions, and on nesting
// at and beyond encoding/json's limit; and it accepts every real answer.
func TestCheckActionAnswerLightMatchesUnmarshal(t *testing.T) {
	type answer struct {
		b      []byte
		stride int
	}
	var answers []answer
	for _, b := range serverAnswers(t) {
		answers = append(answers, answer{b, 11})
	}
	for i, n := range []int{0, 1, 5, 20} {
		answers = append(answers, answer{realShapedAnswer(t, "bench-0123456789abcdef-"+strconv.Itoa(i)+"-9", uint64(1)<<n-1, n), 5})
	}
	for _, a := range answers {
		want := benchExpect{id: answerID(t, a.b)}
		if err := checkActionAnswerLight(a.b, want); err != nil {
			t.Fatalf("a real answer is refused: %v\n%s", err, a.b)
		}
		for _, m := range mutations(a.b, 0, a.stride) {
			wantSameVerdict(t, m, want)
		}
	}
	want := benchExpect{id: "bench-00000000-0-0"}
	refused := 0
	for i, v := range answerVariants(want.id) {
		if refusedOnPurpose([]byte(v)) {
			refused++
		}
		wantSameVerdict(t, []byte(v), want)
		for _, m := range mutations([]byte(v), i%4, 4) {
			wantSameVerdict(t, m, want)
		}
	}
	if refused < 15 {
		t.Errorf("only %d variants are refused on purpose", refused)
	}
	for _, depth := range []int{maxAnswerDepth - 2, maxAnswerDepth - 1, maxAnswerDepth, maxAnswerDepth + 1} {
		// The answer is one level, the member x the others.
		for _, open := range []string{"[", `{"a":`} {
			close := map[string]string{"[": "]", `{"a":`: "}"}[open]
			x := strings.Repeat(open, depth-1) + "1" + strings.Repeat(close, depth-1)
			b := []byte(strings.TrimSuffix(string(realShapedAnswer(t, want.id, 3, 2)), "}\n") + `,"x":` + x + "}")
			wantSameVerdict(t, b, want)
			if err := checkActionAnswerLight(b, want); (err == nil) != (depth <= maxAnswerDepth) {
				t.Errorf("nested %d deep with %s: %v", depth, open, err)
			}
		}
	}
}

// FuzzCheckActionAnswerLight: on any input, the light check accepts
// exactly what the json.Unmarshal check it replaced accepts, except
// repeated and respelled members it refuses on purpose.
func FuzzCheckActionAnswerLight(f *testing.F) {
	want := benchExpect{id: "bench-00000000-0-0"}
	f.Add(realShapedAnswer(f, want.id, 3, 2))
	for _, v := range answerVariants(want.id) {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		wantSameVerdict(t, b, want)
	})
}
