package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/transparency"
)

func TestNewRefusesBadConfig(t *testing.T) {
	db := newEnv(t).db
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"no db", Config{Host: testHost, PublicURL: testURL}},
		{"no host", Config{DB: db, PublicURL: testURL}},
		{"raw port colon", Config{DB: db, Host: "localhost:8080", PublicURL: testURL}},
		{"host with path", Config{DB: db, Host: "localhost/x", PublicURL: testURL}},
		{"no public url", Config{DB: db, Host: testHost}},
		{"public url with path", Config{DB: db, Host: testHost, PublicURL: testURL + "/x"}},
		{"public url ftp", Config{DB: db, Host: testHost, PublicURL: "ftp://localhost"}},
		{"negative ttl", Config{DB: db, Host: testHost, PublicURL: testURL, ContactRequestTTL: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func digestOf(t *testing.T, doc *did.Document) string {
	t.Helper()
	b, err := did.MarshalDocument(doc, did.MediaTypeDIDLDJSON)
	if err != nil {
		t.Fatal(err)
	}
	return transparency.DigestSHA256(sha256.Sum256(b))
}

func resolutionCode(err error) (string, *did.DocumentMetadata) {
	var re *did.ResolutionError
	if !errors.As(err, &re) {
		return "", nil
	}
	return re.Code, re.Metadata
}

// TestHostedLifecycle creates, rotates and deactivates a hosted DID and
// resolves every version, checking documents, metadata and entries.
func TestHostedLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k1, k2 := newKey(t), newKey(t)
	mb1, mb2 := strings.TrimPrefix(k1, "did:key:"), strings.TrimPrefix(k2, "did:key:")
	const d = "did:web:localhost%3A8080:owners:alice"

	// Some unrelated entry first, so that versionIds are not 0.
	e.owner()

	q := e.req(k1)
	op, err := e.reg.CreateHosted(q, "owners/alice")
	a1 := e.must(op, err)
	v1 := strconv.FormatUint(a1.Index, 10)
	if op.DID != d || op.VersionID != v1 || op.KeyID != d+"#key-1" {
		t.Fatalf("create op: DID %s version %s kid %s", op.DID, op.VersionID, op.KeyID)
	}
	doc1 := hostedDocument(d, 1, mb1)
	checkEntry(t, op.Entry, "did.created", k1, "", d, digestOf(t, doc1), "", q)

	res, err := e.reg.ResolveHosted(ctx, d, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := did.MarshalDocument(res.Document, did.MediaTypeDIDLDJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/suites/ed25519-2020/v1"],` +
		`"id":"` + d + `","verificationMethod":[{"id":"` + d + `#key-1","type":"Ed25519VerificationKey2020",` +
		`"controller":"` + d + `","publicKeyMultibase":"` + mb1 + `"}],"authentication":["` + d + `#key-1"],` +
		`"assertionMethod":["` + d + `#key-1"]}`
	if string(b) != want {
		t.Fatalf("document\n%s\nwant\n%s", b, want)
	}
	created := q.Time.Format("2006-01-02T15:04:05Z")
	if res.ResolutionMetadata.ContentType != did.MediaTypeDIDLDJSON ||
		res.DocumentMetadata != (did.DocumentMetadata{Created: created, Updated: created, VersionID: v1,
			LogEntry: testURL + "/log/v1/receipts/" + v1}) {
		t.Fatalf("metadata %+v %+v", res.ResolutionMetadata, res.DocumentMetadata)
	}
	// The key authenticates requests: VerificationKey finds it.
	if _, err := did.VerificationKey(res.Document, d+"#key-1", did.Authentication); err != nil {
		t.Fatal(err)
	}
	// The caller may modify a result without changing the next one.
	res.Document.ID = "changed"
	if res, _ := e.reg.ResolveHosted(ctx, d, ""); res.Document.ID != d {
		t.Fatal("a modified result leaked into the cache")
	}

	q2 := e.reqKID(d, d+"#key-1")
	op, err = e.reg.RotateHosted(q2, d, k2)
	a2 := e.must(op, err)
	v2 := strconv.FormatUint(a2.Index, 10)
	if op.VersionID != v2 || op.KeyID != d+"#key-2" {
		t.Fatalf("rotate op: version %s kid %s", op.VersionID, op.KeyID)
	}
	checkEntry(t, op.Entry, "did.updated", d, "", d, digestOf(t, hostedDocument(d, 2, mb2)), "", q2)
	updated := q2.Time.Format("2006-01-02T15:04:05Z")

	res, err = e.reg.ResolveHosted(ctx, d, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Document.VerificationMethod[0]; got.ID != d+"#key-2" || got.PublicKeyMultibase != mb2 {
		t.Fatalf("after rotation: %+v", got)
	}
	if res.DocumentMetadata != (did.DocumentMetadata{Created: created, Updated: updated, VersionID: v2,
		LogEntry: testURL + "/log/v1/receipts/" + v2}) {
		t.Fatalf("metadata %+v", res.DocumentMetadata)
	}
	// The old key-1 names no key in the new document.
	if _, err := did.VerificationKey(res.Document, d+"#key-1", did.Authentication); err == nil {
		t.Fatal("key-1 still in the document after rotation")
	}
	res, err = e.reg.ResolveHosted(ctx, d, v1)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, res.Document) != digestOf(t, doc1) || res.DocumentMetadata != (did.DocumentMetadata{
		Created: created, Updated: created, VersionID: v1, NextVersionID: v2, NextUpdate: updated,
		LogEntry: testURL + "/log/v1/receipts/" + v1}) {
		t.Fatalf("version %s: %+v", v1, res.DocumentMetadata)
	}

	q3 := e.reqKID(d, d+"#key-2")
	op, err = e.reg.DeactivateHosted(q3, d)
	a3 := e.must(op, err)
	v3 := strconv.FormatUint(a3.Index, 10)
	checkEntry(t, op.Entry, "did.deactivated", d, "", d, "", "", q3)
	gone := q3.Time.Format("2006-01-02T15:04:05Z")
	wantMD := did.DocumentMetadata{Created: created, Updated: gone, VersionID: v3, Deactivated: true,
		LogEntry: testURL + "/log/v1/receipts/" + v3}
	for _, v := range []string{"", v3} {
		res, err = e.reg.ResolveHosted(ctx, d, v)
		code, md := resolutionCode(err)
		if res != nil || code != did.ErrorDeactivated || md == nil || *md != wantMD {
			t.Fatalf("version %q after deactivation: %v %v %+v", v, res, err, md)
		}
	}
	res, err = e.reg.ResolveHosted(ctx, d, v2)
	if err != nil || res.DocumentMetadata.NextVersionID != v3 || res.DocumentMetadata.NextUpdate != gone ||
		res.Document.VerificationMethod[0].ID != d+"#key-2" {
		t.Fatalf("version %s after deactivation: %v %+v", v2, err, res)
	}
	if dead, err := e.reg.Deactivated(d); err != nil || !dead {
		t.Fatalf("Deactivated = %v, %v", dead, err)
	}
}

func TestResolveHostedNotFound(t *testing.T) {
	e := newEnv(t)
	k := newKey(t)
	op, err := e.reg.CreateHosted(e.req(k), "agents/bot")
	e.must(op, err)
	for _, tc := range []struct{ name, d, version string }{
		{"unknown name", "did:web:localhost%3A8080:agents:other", ""},
		{"other host", "did:web:example.com:agents:bot", ""},
		{"other kind", "did:web:localhost%3A8080:people:bot", ""},
		{"unknown version", op.DID, "999"},
		{"version of nothing", op.DID, strconv.Itoa(int(e.log.Size()) - 2)},
		{"non-canonical version", op.DID, "0" + op.VersionID},
		{"version not a number", op.DID, "latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.reg.ResolveHosted(context.Background(), tc.d, tc.version)
			if code, _ := resolutionCode(err); res != nil || code != did.ErrorNotFound {
				t.Fatalf("got %v, %v; want notFound", res, err)
			}
		})
	}
	if dead, err := e.reg.Deactivated(k); err != nil || dead {
		t.Fatalf("Deactivated(did:key) = %v, %v", dead, err)
	}
}

func TestHostedRefusals(t *testing.T) {
	e := newEnv(t)
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	const d = "did:web:localhost%3A8080:agents:bot"
	e.must(e.reg.CreateHosted(e.req(k1), "agents/bot"))
	dead := "did:web:localhost%3A8080:owners:gone"
	e.must(e.reg.CreateHosted(e.req(k2), "owners/gone"))
	e.must(e.reg.DeactivateHosted(e.reqKID(dead, dead+"#key-1"), dead))
	owner := e.owner()

	for _, tc := range []struct {
		name, code string
		op         func() (*Op, error)
	}{
		{"name without kind", CodeInvalidName, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "alice") }},
		{"unknown kind", CodeInvalidName, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "people/alice") }},
		{"uppercase name", CodeInvalidName, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "owners/Alice") }},
		{"name ends with hyphen", CodeInvalidName, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "owners/a-") }},
		{"name too long", CodeInvalidName, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "owners/"+strings.Repeat("a", 64)) }},
		{"name with colon", CodeInvalidName, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "owners/a:b") }},
		{"name taken", CodeNameTaken, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "agents/bot") }},
		{"name of a deactivated DID", CodeNameTaken, func() (*Op, error) { return e.reg.CreateHosted(e.req(k3), "owners/gone") }},
		{"created by a did:web", CodeKeyInvalid, func() (*Op, error) { return e.reg.CreateHosted(e.reqKID(d, d+"#key-1"), "owners/x") }},
		{"rotate to a non did:key", CodeKeyInvalid, func() (*Op, error) { return e.reg.RotateHosted(e.reqKID(d, d+"#key-1"), d, d) }},
		{"rotate to the same key", CodeKeyInvalid, func() (*Op, error) { return e.reg.RotateHosted(e.reqKID(d, d+"#key-1"), d, k1) }},
		{"rotate a remote did:web", CodeDIDNotHosted, func() (*Op, error) {
			return e.reg.RotateHosted(e.reqKID("did:web:example.com", "did:web:example.com#key-1"), "did:web:example.com", k3)
		}},
		{"deactivate a did:key", CodeDIDNotHosted, func() (*Op, error) { return e.reg.DeactivateHosted(e.req(k1), k1) }},
		{"rotate unknown", CodeDIDNotFound, func() (*Op, error) {
			u := "did:web:localhost%3A8080:agents:nobody"
			return e.reg.RotateHosted(e.reqKID(u, u+"#key-1"), u, k3)
		}},
		{"rotate signed by the did:key", CodeNotController, func() (*Op, error) { return e.reg.RotateHosted(e.req(k1), d, k3) }},
		{"rotate with a wrong kid", CodeNotController, func() (*Op, error) { return e.reg.RotateHosted(e.reqKID(d, d+"#key-2"), d, k3) }},
		{"deactivate signed by another DID", CodeNotController, func() (*Op, error) { return e.reg.DeactivateHosted(e.req(owner), d) }},
		{"rotate a deactivated DID", CodeDIDDeactivated, func() (*Op, error) { return e.reg.RotateHosted(e.reqKID(dead, dead+"#key-1"), dead, k3) }},
		{"deactivate twice", CodeDIDDeactivated, func() (*Op, error) { return e.reg.DeactivateHosted(e.reqKID(dead, dead+"#key-1"), dead) }},
		{"deactivated DID registers as owner", CodeDIDDeactivated, func() (*Op, error) { return e.reg.RegisterOwner(e.reqKID(dead, dead+"#key-1")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer e.with(t)()
			op, err := tc.op()
			e.refused(tc.code, op, err)
		})
	}

	// After a rotation the old kid is refused, in the method and, for a
	// request checked before the rotation committed, in Apply.
	stale, err := e.reg.DeactivateHosted(e.reqKID(d, d+"#key-1"), d)
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.reg.RotateHosted(e.reqKID(d, d+"#key-1"), d, k3))
	e.refused(CodeNotController, stale, nil)
	op, err := e.reg.RotateHosted(e.reqKID(d, d+"#key-1"), d, k2)
	e.refused(CodeNotController, op, err)
}

// checkEntry checks the fields of a registry entry.
func checkEntry(t *testing.T, got *transparency.Entry, typ, actor, owner, subject, resource, counterparty string, q Request) {
	t.Helper()
	want := transparency.Entry{
		Version: 1, Type: typ, Time: q.Time, Actor: actor, Owner: owner, Subject: subject,
		Resource: resource, Counterparty: counterparty, Decision: transparency.DecisionRecorded,
		RequestDigest: q.Digest,
	}
	g := *got
	g.Authz = nil
	if !g.Time.Equal(want.Time) {
		t.Errorf("entry time %v, want %v", g.Time, want.Time)
	}
	g.Time = want.Time
	if g != want {
		t.Errorf("entry\n%+v\nwant\n%+v", g, want)
	}
}
