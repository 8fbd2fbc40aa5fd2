package binding

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/clawnet/ledger/did"
)

func TestIssueVerify(t *testing.T) {
	owner, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	alice1 := seedKey(seedAliceKey1)
	issued := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		priv ed25519.PrivateKey
		kid  string
		b    Binding
	}{
		{"manager", owner, ownerKID, Binding{Issuer: ownerDID, Subject: agentDID, Role: RoleManager, IssuedAt: issued}},
		{"identity", owner, ownerKID, Binding{Issuer: ownerDID, Subject: agentDID, Role: RoleIdentity, Context: "work", IssuedAt: issued, Expires: issued.Add(time.Hour)}},
		{"one-letter context", owner, ownerKID, Binding{Issuer: ownerDID, Subject: agentDID, Role: RoleIdentity, Context: "x", IssuedAt: issued}},
		{"did:web issuer and agent", alice1, aliceDID + "#key-1", Binding{Issuer: aliceDID, Subject: aliceAgentDID, Role: RoleIdentity, Context: "family", IssuedAt: issued}},
		{"in another zone", owner, ownerKID, Binding{Issuer: ownerDID, Subject: agentDID, Role: RoleManager, IssuedAt: issued.In(time.FixedZone("x", 3600))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.b.ID = fixedID(t, 0x42)
			tok, err := Issue(c.priv, c.kid, c.b)
			if err != nil {
				t.Fatal(err)
			}
			r := newTestResolver()
			got, err := Verify(context.Background(), tok, r.resolve, issued)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := c.b
			want.IssuedAt = want.IssuedAt.UTC()
			if got.Binding != want || got.KID != c.kid || got.Token != tok || got.Digest != Digest(tok) {
				t.Fatalf("Verify = %+v, want %+v", got, want)
			}
			if n := r.calls.Load(); n != 1 {
				t.Errorf("%d resolutions, want 1", n)
			}
		})
	}
}

// Issue writes whole seconds: the sub-second part is dropped, and the
// credential states what Verify returns.
func TestIssueTruncatesToSeconds(t *testing.T) {
	owner, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	b := Binding{ID: fixedID(t, 1), Issuer: ownerDID, Subject: agentDID, Role: RoleManager,
		IssuedAt: time.Unix(1767225600, 999_999_999), Expires: time.Unix(1767225601, 1)}
	tok, err := Issue(owner, ownerKID, b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(context.Background(), tok, newTestResolver().resolve, time.Unix(1767225600, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !got.IssuedAt.Equal(time.Unix(1767225600, 0)) || !got.Expires.Equal(time.Unix(1767225601, 0)) {
		t.Errorf("times %s %s", got.IssuedAt, got.Expires)
	}
}

func TestIssueRefusals(t *testing.T) {
	owner, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	_, _, otherKID := keyDID(seedOther)
	issued := time.Unix(1767225600, 0)
	good := Binding{ID: fixedID(t, 1), Issuer: ownerDID, Subject: agentDID, Role: RoleIdentity, Context: "work", IssuedAt: issued}
	for _, c := range []struct {
		name   string
		priv   ed25519.PrivateKey
		kid    string
		mutate func(*Binding)
		code   Code // "" for an error without a code (a programming error)
	}{
		{"short private key", owner[:32], ownerKID, func(*Binding) {}, ""},
		{"kid empty", owner, "", func(*Binding) {}, CodeKIDInvalid},
		{"kid without fragment", owner, ownerDID, func(*Binding) {}, CodeKIDInvalid},
		{"kid not a DID URL", owner, "key-1", func(*Binding) {}, CodeKIDInvalid},
		{"kid of another DID", owner, otherKID, func(*Binding) {}, CodeIssuerMismatch},
		{"id empty", owner, ownerKID, func(b *Binding) { b.ID = "" }, CodeMalformed},
		{"id not v4", owner, ownerKID, func(b *Binding) { b.ID = "urn:uuid:01010101-0101-1101-8101-010101010101" }, CodeMalformed},
		{"id uppercase", owner, ownerKID, func(b *Binding) { b.ID = strings.ToUpper(b.ID) }, CodeMalformed},
		{"issuer not a DID", owner, ownerKID, func(b *Binding) { b.Issuer = "alice" }, CodeIssuerMismatch},
		{"subject not a DID", owner, ownerKID, func(b *Binding) { b.Subject = "agent" }, CodeMalformed},
		{"subject a DID URL", owner, ownerKID, func(b *Binding) { b.Subject = agentDID + "#x" }, CodeMalformed},
		{"subject is issuer", owner, ownerKID, func(b *Binding) { b.Subject = ownerDID }, CodeMalformed},
		{"no issuance time", owner, ownerKID, func(b *Binding) { b.IssuedAt = time.Time{} }, CodeMalformed},
		{"issued before 1970", owner, ownerKID, func(b *Binding) { b.IssuedAt = time.Unix(-5, 0) }, CodeMalformed},
		{"issued after 9999", owner, ownerKID, func(b *Binding) { b.IssuedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, CodeMalformed},
		{"expires at issuance", owner, ownerKID, func(b *Binding) { b.Expires = b.IssuedAt }, CodeMalformed},
		{"expires in the same second", owner, ownerKID, func(b *Binding) { b.Expires = b.IssuedAt.Add(time.Millisecond) }, CodeMalformed},
		{"role empty", owner, ownerKID, func(b *Binding) { b.Role = "" }, CodeRoleInvalid},
		{"role unknown", owner, ownerKID, func(b *Binding) { b.Role = "admin" }, CodeRoleInvalid},
		{"manager with context", owner, ownerKID, func(b *Binding) { b.Role = RoleManager }, CodeContextInvalid},
		{"identity without context", owner, ownerKID, func(b *Binding) { b.Context = "" }, CodeContextInvalid},
		{"context uppercase", owner, ownerKID, func(b *Binding) { b.Context = "Work" }, CodeContextInvalid},
		{"context trailing hyphen", owner, ownerKID, func(b *Binding) { b.Context = "work-" }, CodeContextInvalid},
		{"context with dot", owner, ownerKID, func(b *Binding) { b.Context = "a.b" }, CodeContextInvalid},
		{"context 64 characters", owner, ownerKID, func(b *Binding) { b.Context = strings.Repeat("a", 64) }, CodeContextInvalid},
		{"token too long", owner, ownerKID, func(b *Binding) { b.Subject = "did:web:" + strings.Repeat("a", 2000) + ":" + strings.Repeat("b", 2000) }, CodeMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := good
			c.mutate(&b)
			tok, err := Issue(c.priv, c.kid, b)
			if err == nil || tok != "" {
				t.Fatalf("Issue = %q, %v; want a refusal", tok, err)
			}
			if CodeOf(err) != c.code {
				t.Fatalf("Issue: %v; want code %q", err, c.code)
			}
		})
	}
	// The sanity of the table: good itself is issued.
	if _, err := Issue(owner, ownerKID, good); err != nil {
		t.Fatal(err)
	}
}

// preResolution are the codes of the checks that come before resolution:
// a token refused with one of them cost no resolver call.
var preResolution = map[Code]bool{CodeMalformed: true, CodeAlgNotAllowed: true, CodeKIDInvalid: true, CodeIssuerMismatch: true}

// Every bad vector is refused with its code, returns no Verified, and the
// checks before resolution never call the resolver.
func TestVerifyRefusals(t *testing.T) {
	mf, _ := generateVectors(t)
	now := mustTime(t, vectorNow)
	seen := map[Code]bool{}
	for _, v := range mf.Vectors {
		if v.Code == "" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			r := newTestResolver()
			got, err := Verify(context.Background(), v.token, r.resolve, now)
			if got != nil || CodeOf(err) != v.Code {
				t.Fatalf("Verify = %+v, %v; want code %s", got, err, v.Code)
			}
			var e *Error
			if !errors.As(err, &e) || e.Message == "" || !strings.HasPrefix(err.Error(), string(v.Code)+": ") {
				t.Errorf("error %q: want an *Error with a message", err)
			}
			if calls := r.calls.Load(); preResolution[v.Code] != (calls == 0) {
				t.Errorf("%d resolver calls for a %s refusal", calls, v.Code)
			}
			seen[v.Code] = true
		})
	}
	for _, c := range allCodes {
		if !seen[c] {
			t.Errorf("no bad vector for %s", c)
		}
	}
}

var allCodes = []Code{CodeMalformed, CodeAlgNotAllowed, CodeKIDInvalid, CodeIssuerMismatch, CodeIssuerUnresolvable,
	CodeKeyNotAuthorized, CodeSignatureInvalid, CodeNotYetValid, CodeExpired, CodeRoleInvalid, CodeContextInvalid}

// The validity period is [nbf - Skew, exp + Skew], both ends included.
func TestVerifyValidityPeriod(t *testing.T) {
	owner, ownerDID, ownerKID := keyDID(seedOwner)
	_, agentDID, _ := keyDID(seedAgent)
	nbf := time.Unix(1767225600, 0)
	exp := nbf.Add(24 * time.Hour)
	tok, err := Issue(owner, ownerKID, Binding{ID: fixedID(t, 1), Issuer: ownerDID, Subject: agentDID, Role: RoleManager, IssuedAt: nbf, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	noExp, err := Issue(owner, ownerKID, Binding{ID: fixedID(t, 2), Issuer: ownerDID, Subject: agentDID, Role: RoleManager, IssuedAt: nbf})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tok  string
		now  time.Time
		code Code
	}{
		{"long before", tok, nbf.Add(-time.Hour), CodeNotYetValid},
		{"1 ns before nbf - skew", tok, nbf.Add(-Skew - 1), CodeNotYetValid},
		{"at nbf - skew", tok, nbf.Add(-Skew), ""},
		{"at nbf", tok, nbf, ""},
		{"at exp", tok, exp, ""},
		{"at exp + skew", tok, exp.Add(Skew), ""},
		{"1 ns after exp + skew", tok, exp.Add(Skew + 1), CodeExpired},
		{"no exp, a century later", noExp, nbf.AddDate(100, 0, 0), ""},
		{"no exp, before nbf - skew", noExp, nbf.Add(-Skew - time.Second), CodeNotYetValid},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(context.Background(), c.tok, newTestResolver().resolve, c.now)
			if CodeOf(err) != c.code || (c.code == "") != (err == nil) || (got == nil) != (err != nil) {
				t.Fatalf("Verify = %v, %v; want code %q", got, err, c.code)
			}
		})
	}
}

// A resolver's error stays visible through the refusal: the registry tells
// a deactivated issuer apart with errors.As.
func TestVerifyResolverErrors(t *testing.T) {
	nobody := seedKey(seedNobody)
	_, agentDID, _ := keyDID(seedAgent)
	issued := time.Unix(1767225600, 0)
	tok, err := Issue(nobody, goneDID+"#key-1", Binding{ID: fixedID(t, 1), Issuer: goneDID, Subject: agentDID, Role: RoleManager, IssuedAt: issued})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(context.Background(), tok, newTestResolver().resolve, issued)
	var re *did.ResolutionError
	if CodeOf(err) != CodeIssuerUnresolvable || !errors.As(err, &re) || re.Code != did.ErrorDeactivated {
		t.Fatalf("Verify: %v; want %s wrapping a deactivated resolution error", err, CodeIssuerUnresolvable)
	}

	sentinel := errors.New("network down")
	for _, c := range []struct {
		name    string
		resolve ResolveFunc
		is      error
	}{
		{"plain error", func(context.Context, string) (*did.Document, error) { return nil, fmt.Errorf("fetch: %w", sentinel) }, sentinel},
		{"nil document", func(context.Context, string) (*did.Document, error) { return nil, nil }, nil},
		{"another DID's document", func(_ context.Context, d string) (*did.Document, error) { return aliceDocument(), nil }, nil},
		{"context cancelled", func(ctx context.Context, _ string) (*did.Document, error) { return nil, ctx.Err() }, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			owner, ownerDID, ownerKID := keyDID(seedOwner)
			tok, err := Issue(owner, ownerKID, Binding{ID: fixedID(t, 2), Issuer: ownerDID, Subject: agentDID, Role: RoleManager, IssuedAt: issued})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Verify(ctx, tok, c.resolve, issued)
			if got != nil || CodeOf(err) != CodeIssuerUnresolvable {
				t.Fatalf("Verify = %v, %v", got, err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%v does not wrap %v", err, c.is)
			}
		})
	}
}

// key_not_authorized keeps did's sentinel, so that logs say which case.
func TestVerifyKeyErrors(t *testing.T) {
	mf, _ := generateVectors(t)
	now := mustTime(t, vectorNow)
	for name, sentinel := range map[string]error{"key-not-assertion": did.ErrNotInRelationship, "key-not-found": did.ErrMethodNotFound} {
		for _, v := range mf.Vectors {
			if v.Name != name {
				continue
			}
			_, err := Verify(context.Background(), v.token, newTestResolver().resolve, now)
			if !errors.Is(err, sentinel) {
				t.Errorf("%s: %v does not wrap %v", name, err, sentinel)
			}
		}
	}
}

func TestVerifyNoResolver(t *testing.T) {
	if _, err := Verify(context.Background(), "x", nil, time.Now()); err == nil || CodeOf(err) != "" {
		t.Fatalf("Verify with no resolver: %v", err)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range []byte{0x00, 0xff, 0x5a} {
		id, err := NewID(bytes.NewReader(bytes.Repeat([]byte{b}, 16)))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkID(id); err != nil {
			t.Errorf("NewID = %s: %v", id, err)
		}
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Errorf("ids from different randomness collide: %v", seen)
	}
	// The RFC 9562 layout: version 4 in the 13th hex digit, variant 10 in
	// the 17th; every other bit comes from rand.
	id, _ := NewID(bytes.NewReader(bytes.Repeat([]byte{0xff}, 16)))
	if id != "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff" {
		t.Errorf("NewID(all ones) = %s", id)
	}
	id, _ = NewID(bytes.NewReader(make([]byte, 16)))
	if id != "urn:uuid:00000000-0000-4000-8000-000000000000" {
		t.Errorf("NewID(all zeros) = %s", id)
	}
	if _, err := NewID(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Errorf("NewID from 15 bytes succeeded")
	}
	if _, err := NewID(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Errorf("NewID from a failing reader succeeded")
	}
}

func TestDigest(t *testing.T) {
	// FIPS 180-2 test vectors.
	for in, want := range map[string]string{
		"":    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if got := Digest(in); got != want {
			t.Errorf("Digest(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCodeOf(t *testing.T) {
	e := fail(CodeExpired, "x")
	for _, c := range []struct {
		err  error
		want Code
	}{
		{nil, ""},
		{errors.New("other"), ""},
		{e, CodeExpired},
		{fmt.Errorf("wrapped: %w", e), CodeExpired},
	} {
		if got := CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	cause := errors.New("cause")
	w := failWrap(CodeSignatureInvalid, cause, "m")
	if !errors.Is(w, cause) || w.Error() != "binding_signature_invalid: m: cause" {
		t.Errorf("Error() = %q", w.Error())
	}
}

func TestValidContext(t *testing.T) {
	for name, want := range map[string]bool{
		"work": true, "a": true, "0": true, "a-b": true, "a--b": true, strings.Repeat("z", 63): true,
		"": false, "-a": false, "a-": false, "A": false, "a_b": false, "a b": false, "é": false, strings.Repeat("z", 64): false,
	} {
		if got := ValidContext(name); got != want {
			t.Errorf("ValidContext(%q) = %v", name, got)
		}
	}
}
