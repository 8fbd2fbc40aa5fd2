package server

import (
	"context"
	"net/http"
	"testing"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/status"
)

// TestStatusEndpoints: only a registered owner reserves status entries
// (an agent or a stranger is refused and nothing is logged); an unknown
// list is 404; the served list is a status list credential signed by the
// server's issuer, re-signed when a revocation changes the list.
func TestStatusEndpoints(t *testing.T) {
	g := newGrantEnv(t)
	f := g.family(t)
	stranger := newKeyParty(t, "stranger")
	for _, p := range []*idParty{stranger, f.work} {
		g.grefuse(t, http.StatusForbidden, "owner_not_registered", func() response {
			return mustPost(t, g, p, "/v1/status", struct{}{})
		})
	}
	if r := g.do("GET", "/status/1", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("GET /status/1 before any allocation: %d %s", r.status, r.body)
	}
	entry := g.allocate(t, f.owner, f.owner.did, false)
	resolve := func(_ context.Context, d string) (*did.Document, error) { return did.ResolveKey(d) }
	get := func() *status.VerifiedList {
		t.Helper()
		r := g.do("GET", "/status/1", nil, nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/vc+jwt" ||
			r.header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET /status/1: %d %v %s", r.status, r.header, r.body)
		}
		vl, err := status.VerifyList(context.Background(), string(r.body), resolve, g.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if vl.Issuer != g.srv.IssuerDID() || vl.ID != entry.ListCredential {
			t.Fatalf("list issuer %s id %s; want %s %s", vl.Issuer, vl.ID, g.srv.IssuerDID(), entry.ListCredential)
		}
		return vl
	}
	if bit, err := get().Bits.Get(entry.ListIndex); err != nil || bit {
		t.Fatalf("fresh entry's bit: %v %v", bit, err)
	}
	body, id := g.issue(t, cred{issuer: f.owner, subject: f.work.did, scopes: scopesOther, status: entry})
	g.mustGrant(t, f.owner, f.owner.did, body, id, "")
	if r := mustPost(t, g, f.owner, "/v1/revocations", map[string]string{"id": id}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if bit, err := get().Bits.Get(entry.ListIndex); err != nil || !bit {
		t.Fatalf("revoked entry's bit in the served list: %v %v", bit, err)
	}
}
