package registry

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
)

// FuzzDecodeRecords: decoding a stored record never panics, and whatever
// decodes re-encodes to a value that decodes to the same bytes again.
func FuzzDecodeRecords(f *testing.F) {
	t := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	for _, v := range []any{
		hostedVersion{Key: "z6Mk", KeyN: 1, Time: t},
		hostedVersion{KeyN: 2, Time: t, Deactivated: true},
		hostedHead{Created: t, CreatedIndex: 3, Index: 9, Updated: t, Key: "z6Mk", KeyN: 2},
		ownerRecord{Index: 1, Time: t},
		agentRecord{Owner: "did:key:z", Role: RoleIdentity, Context: "work", Token: "x", CredentialID: "urn:x", BoundIndex: 4, BoundTime: t},
		contactRecord{MyAgent: "did:key:a", TheirAgent: "did:key:b", Request: 1, Since: 2, Time: t},
		requestRecord{From: "did:key:a", To: "did:key:b", FromAgent: "did:key:c", Time: t, Expires: t},
		[]string{"did:key:a", "did:key:b"},
	} {
		f.Add(encode(v))
	}
	f.Add([]byte(`{"n":1,"time":"2026-03-01T12:00:00Z","extra":1}`))
	f.Add([]byte(`{"n":1} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, newv := range []func() any{
			func() any { return new(hostedVersion) },
			func() any { return new(hostedHead) },
			func() any { return new(ownerRecord) },
			func() any { return new(agentRecord) },
			func() any { return new(contactRecord) },
			func() any { return new(requestRecord) },
			func() any { return new([]string) },
		} {
			v := newv()
			if decode(b, v) != nil {
				continue
			}
			enc := encode(v)
			w := newv()
			if err := decode(enc, w); err != nil {
				t.Fatalf("%T: re-encoded %s does not decode: %v", v, enc, err)
			}
			if again := encode(w); !bytes.Equal(again, enc) {
				t.Fatalf("%T: %s re-encodes to %s", v, enc, again)
			}
		}
	})
}

// FuzzHostedDID: a name is accepted only in the contract's syntax, and the
// DID it gives is recognized as hosted here.
func FuzzHostedDID(f *testing.F) {
	for _, s := range []string{"owners/alice", "agents/bot-1", "owners/", "owners/a-", "people/x", "owners/a:b", "owners/a/b", "agents/" + "x0"} {
		f.Add(s)
	}
	// HostedDID and isHosted do not touch the database.
	r := &Registry{host: testHost, webPrefix: "did:web:" + testHost + ":"}
	f.Fuzz(func(t *testing.T, name string) {
		d, err := r.HostedDID(name)
		if err != nil {
			if CodeOf(err) != CodeInvalidName {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		kind, n, _ := strings.Cut(name, "/")
		if (kind != KindOwners && kind != KindAgents) || !nameRE.MatchString(n) {
			t.Fatalf("accepted %q", name)
		}
		if d != "did:web:"+testHost+":"+kind+":"+n || !r.isHosted(d) || !isDID(d) {
			t.Fatalf("%q gave %q", name, d)
		}
		if _, err := did.WebURL(d); err != nil {
			t.Fatalf("%q gave a DID WebURL refuses: %v", name, err)
		}
	})
}
