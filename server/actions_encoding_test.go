package server

import (
	"bytes"
	"encoding/json"
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
