package server

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/clawnet/ledger/transparency"
)

// TestActionAnswerEncoding: the answer respondAction encodes in one pass
// (actionAnswer) is byte for byte ActionResponse with the receipt's own
// Marshal, for every shape of answer: no proof, a proof, characters that
// encoding/json escapes, an escalation, a delivery, an escalation's answer.
func TestActionAnswerEncoding(t *testing.T) {
	proof := []transparency.Hash{{1, 2, 3}, {0xfb, 0xff}}
	delivery := &ActionDelivery{Message: "m<1>", Recipient: "did:key:z6Mk&", Index: 9, Receipt: json.RawMessage(`{"a": 1}`)}
	for _, tc := range []struct {
		name string
		rec  actionRecord
		rc   transparency.Receipt
		dl   *ActionDelivery
	}{
		{"allowed, first entry", actionRecord{Decision: transparency.DecisionAllowed, Reason: `allow by scope "bench"`},
			transparency.Receipt{Format: transparency.ReceiptFormat, Entry: []byte(`{"v":1}`), Checkpoint: "origin\n1\nroot=\n\n— origin sig\n"}, nil},
		{"denied with a proof and escaped characters", actionRecord{Decision: transparency.DecisionDenied, Reason: "a < b && c > d \u2028 \x01", Index: 6},
			transparency.Receipt{Format: transparency.ReceiptFormat, Index: 6, Entry: []byte("<&>\xff"), InclusionProof: proof, Checkpoint: "x<y>&\n"}, nil},
		{"escalated, answered", actionRecord{Decision: transparency.DecisionEscalated, Reason: "r", Index: 7, Escalation: "7",
			Answer: transparency.DecisionDenied, AnswerIndex: 12},
			transparency.Receipt{Format: transparency.ReceiptFormat, Index: 7, Entry: []byte("e"), InclusionProof: []transparency.Hash{}, Checkpoint: "c"}, nil},
		{"delivered", actionRecord{Decision: transparency.DecisionAllowed, Reason: "ok", Index: 8},
			transparency.Receipt{Format: transparency.ReceiptFormat, Index: 8, Entry: []byte("e"), InclusionProof: proof, Checkpoint: "c"}, delivery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const id = "urn:uuid:00000000-0000-4000-8000-000000000000"
			old := tc.rc
			rb, err := old.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(ActionResponse{ID: id, Decision: tc.rec.Decision, Reason: tc.rec.Reason, Index: tc.rec.Index, Receipt: rb,
				Escalate: tc.rec.Escalation, Delivery: tc.dl, Answer: tc.rec.Answer, AnswerIndex: tc.rec.AnswerIndex})
			if err != nil {
				t.Fatal(err)
			}
			rc := tc.rc
			got, err := json.Marshal(answerOf(id, &tc.rec, &rc, tc.dl))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("one-pass answer\n%s\nActionResponse\n%s", got, want)
			}
			// And the receipt inside parses as the receipt it was.
			var a ActionResponse
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatal(err)
			}
			if _, err := transparency.ParseReceipt(a.Receipt); err != nil {
				t.Errorf("receipt in the answer: %v", err)
			}
		})
	}
}

// checkAppendActionAnswer fails t unless appendActionAnswer encodes a as
// json.Marshal does, with the same error or lack of one.
func checkAppendActionAnswer(t testing.TB, a actionAnswer) {
	t.Helper()
	want, werr := json.Marshal(a)
	got, gerr := appendActionAnswer([]byte("prefix"), &a)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("json.Marshal error %v, appendActionAnswer error %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("appendActionAnswer\n%q\njson.Marshal\n%q", got, want)
	}
}

// TestAppendActionAnswer: appendActionAnswer writes json.Marshal's bytes
// for strings with every ASCII byte and the characters encoding/json
// treats specially, entries of every length up to a few base64 blocks,
// proofs of 0 to 64 hashes, optional fields set and unset.
func TestAppendActionAnswer(t *testing.T) {
	var ascii []byte
	for b := range 0x80 {
		ascii = append(ascii, byte(b))
	}
	strs := []string{"", string(ascii), "<>&", "a<b>c&d", "\u2028\u2029", "x\u2028y\u2029z", "\xff", "a\xffb\xfe", "\xe2\x80", "\xe2\x80\xa8\xe2\x80",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "é日本🙂", "\x00\x1f\x7f", "\\\"/", "— origin sig\n", "\ufffd", "\xc3"}
	for b := range 0x80 {
		strs = append(strs, string(rune(b)), "a"+string(rune(b))+"é")
	}
	for b := 0x80; b < 0x100; b++ {
		strs = append(strs, string([]byte{byte(b)}), "é"+string([]byte{byte(b)}))
	}
	proof := make([]transparency.Hash, 64)
	for i := range proof {
		for j := range proof[i] {
			proof[i][j] = byte(i*31 + j*7)
		}
	}
	entry := make([]byte, 70)
	for i := range entry {
		entry[i] = byte(i * 37)
	}
	delivery := &ActionDelivery{Message: "m<1>\u2028", Recipient: "did:key:z6Mk&\xff", Index: 9, Receipt: json.RawMessage(" {\"a\": [1, \"<&>\u2028\"]}\n")}
	base := func() actionAnswer {
		return actionAnswer{ID: "urn:uuid:1", Decision: transparency.DecisionAllowed, Reason: "ok", Index: 3,
			Receipt: &transparency.Receipt{Format: transparency.ReceiptFormat, Index: 3, Entry: []byte("e"), InclusionProof: []transparency.Hash{}, Checkpoint: "c"}}
	}
	for _, s := range strs {
		a := base()
		a.ID, a.Decision, a.Reason, a.Escalate, a.Answer = s, transparency.Decision(s), s, s, transparency.Decision(s)
		a.Receipt.Format, a.Receipt.Checkpoint = s, s
		checkAppendActionAnswer(t, a)
	}
	for n := range len(entry) + 1 {
		a := base()
		a.Receipt.Entry = entry[:n]
		checkAppendActionAnswer(t, a)
	}
	for n := range len(proof) + 1 {
		a := base()
		a.Receipt.InclusionProof = proof[:n]
		checkAppendActionAnswer(t, a)
	}
	for _, idx := range []uint64{0, 1, 9, 10, 1 << 32, math.MaxUint64} {
		a := base()
		a.Index, a.Receipt.Index, a.AnswerIndex = idx, idx, idx
		checkAppendActionAnswer(t, a)
	}
	for mask := range 1 << 6 {
		a := base()
		if mask&1 != 0 {
			a.Escalate = "7"
		}
		if mask&2 != 0 {
			a.Delivery = delivery
		}
		if mask&4 != 0 {
			a.Answer = transparency.DecisionDenied
		}
		if mask&8 != 0 {
			a.AnswerIndex = 12
		}
		if mask&16 != 0 {
			a.Receipt.Entry, a.Receipt.InclusionProof = nil, nil
		}
		if mask&32 != 0 {
			a.Receipt = nil
		}
		checkAppendActionAnswer(t, a)
	}
	// Deliveries whose receipt json.Marshal must compact, escape, or
	// refuse: the error is reported, as json.Marshal's is.
	for _, raw := range []string{"", "null", `{"a":1}`, " [ 1 , 2 ] ", `"<\u2028>"`, "{", `{"a":1} x`, "\xff"} {
		a := base()
		a.Delivery = &ActionDelivery{Message: "m", Recipient: "r", Index: 1}
		if raw != "" {
			a.Delivery.Receipt = json.RawMessage(raw)
		}
		checkAppendActionAnswer(t, a)
	}
}

func FuzzAppendActionAnswer(f *testing.F) {
	f.Add("urn:uuid:1", "allowed", "allow by scope \"bench\"", uint64(6), []byte(`{"v":1}`), 3, "origin\n1\nroot=\n\n— origin sig\n", "", false, []byte(nil), "", uint64(0))
	f.Add("<&>", "escalated", "a < b && c > d \u2028 \x01", uint64(math.MaxUint64), []byte("<&>\xff"), 17, "x<y>&\n\u2029", "7", true, []byte(`{"a": 1}`), "denied", uint64(12))
	f.Add("\xff\xfe", "\x00", "\xe2\x80", uint64(0), []byte{}, 0, "\t\b\f\r\x7f", "\\", true, []byte("{"), "\"", uint64(1))
	f.Fuzz(func(t *testing.T, id, decision, reason string, index uint64, entry []byte, nproof int, checkpoint, escalate string,
		delivered bool, deliveryReceipt []byte, answer string, answerIndex uint64) {
		proof := make([]transparency.Hash, uint(nproof)%65)
		for i := range proof {
			for j := range proof[i] {
				proof[i][j] = byte(int(index) + i*31 + j)
			}
		}
		if nproof < 0 {
			proof = nil
		}
		a := actionAnswer{ID: id, Decision: transparency.Decision(decision), Reason: reason, Index: index,
			Receipt:  &transparency.Receipt{Format: decision, Index: index, Entry: entry, InclusionProof: proof, Checkpoint: checkpoint},
			Escalate: escalate, Answer: transparency.Decision(answer), AnswerIndex: answerIndex}
		if delivered {
			a.Delivery = &ActionDelivery{Message: reason, Recipient: id, Index: answerIndex, Receipt: deliveryReceipt}
		}
		checkAppendActionAnswer(t, a)
	})
}

// BenchmarkActionAnswerEncoding encodes a realistic answer (600-byte entry,
// 17-hash proof, 210-byte checkpoint) with json.Marshal, as respondAction
// did, and with appendActionAnswer, as it does now; compare with
// benchstat -col /impl.
func BenchmarkActionAnswerEncoding(b *testing.B) {
	entry := bytes.Repeat([]byte(`{"agent":"did:key:z6Mk<&>"}`), 600/27+1)[:600]
	proof := make([]transparency.Hash, 17)
	for i := range proof {
		proof[i] = transparency.Hash{byte(i), 0xfb, 0xff}
	}
	checkpoint := "clawnet.example/log\n123456\n" + strings.Repeat("A", 44) + "\n\n— clawnet.example/log " + strings.Repeat("B", 128) + "\n"
	checkpoint = checkpoint[:210]
	rec := actionRecord{Decision: transparency.DecisionAllowed, Reason: `allow by scope "bench"`, Index: 123455}
	rc := transparency.Receipt{Format: transparency.ReceiptFormat, Index: 123455, Entry: entry, InclusionProof: proof, Checkpoint: checkpoint}
	a := answerOf("urn:uuid:00000000-0000-4000-8000-000000000000", &rec, &rc, nil)
	b.Run("impl=marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendActionAnswer(make([]byte, 0, actionAnswerSize(&a)), &a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// marshalActionFields is how parseAction encoded the fields before
// appendActionFields: the digest of these bytes is stored with every
// decision, so the two must agree byte for byte.
func marshalActionFields(id, action, resource, counterparty string, args json.RawMessage, content, credential string) []byte {
	b, err := json.Marshal(struct {
		ID, Action, Resource, Counterparty string
		Args                               json.RawMessage
		Content, Credential                string
	}{id, action, resource, counterparty, args, content, credential})
	if err != nil {
		panic(err)
	}
	return b
}

// checkActionFields compares the two encodings for args given as a
// request would give them (through parseArgs, which canonicalizes them).
func checkActionFields(t *testing.T, id, action, resource, counterparty, rawArgs, content, credential string) {
	t.Helper()
	_, canon, err := parseArgs(json.RawMessage(rawArgs))
	if err != nil {
		return // refused before any digest
	}
	want := marshalActionFields(id, action, resource, counterparty, canon, content, credential)
	if got := appendActionFields([]byte("x"), id, action, resource, counterparty, canon, content, credential); string(got) != "x"+string(want) {
		t.Fatalf("fields of %q %q %q %q %s %q %q:\nappendActionFields x%s\njson.Marshal        x%s", id, action, resource, counterparty, canon, content, credential, got[1:], want)
	}
}

func TestAppendActionFieldsMatchesMarshal(t *testing.T) {
	for _, tc := range [][7]string{
		{"urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100", "message/send", "calendar/2026-12-01", "did:key:z6MkBob", `{"size":3}`, "sha256:" + strings.Repeat("a", 64), "urn:uuid:011eff60-66b5-45f0-95ce-02d8e7cd5e89"},
		{"bench-00000000-1-2", "data/read", "bench/x", "", ``, "", "c"},
		{"id", "a<b>&c", "r\u2028\u2029\x00\x1f\"\\", "did:web:x%3A1", `{"s":"<&>\u2028","n":1.5e3,"l":[1,"x",true],"b":false}`, "", "\xff\xfe"},
		{"é", "ü", "日本", "", ` { "z" : 1 , "a" : "b" } `, "", ""},
	} {
		checkActionFields(t, tc[0], tc[1], tc[2], tc[3], tc[4], tc[5], tc[6])
	}
}

func FuzzAppendActionFields(f *testing.F) {
	f.Add("urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100", "message/send", "calendar/x", "did:key:z6MkBob", `{"size":3}`, "", "cred")
	f.Add("a", "<&>", "\u2028", "\xff", `{"x":"\u003c"}`, "sha256:00", "\x00")
	f.Fuzz(func(t *testing.T, id, action, resource, counterparty, args, content, credential string) {
		checkActionFields(t, id, action, resource, counterparty, args, content, credential)
	})
}
