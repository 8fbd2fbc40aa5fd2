package delegation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/piprate/json-gold/ld"
)

func TestRoundTrip(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(t)
	noStatus := c
	noStatus.Status = nil
	sub := c
	_, sub.Issuer, _ = keyDID(seedOther)
	sub.ParentCredential, sub.ID = c.ID, fixedID(t, 0x43)
	for _, tc := range []struct {
		name string
		c    Credential
		priv func() ([]byte, string)
	}{
		{"grant", c, nil},
		{"no-status", noStatus, nil},
		{"subdelegation", sub, nil},
	} {
		for _, f := range []Format{FormatJWT, FormatLDP} {
			t.Run(tc.name+"/"+string(f), func(t *testing.T) {
				p, k := priv, kid
				if tc.c.Issuer != c.Issuer {
					p, _, k = keyDID(seedOther)
				}
				var raw []byte
				if f == FormatJWT {
					tok, err := IssueJWT(p, k, tc.c)
					if err != nil {
						t.Fatal(err)
					}
					raw = []byte(tok)
				} else {
					doc, err := IssueLDP(p, k, tc.c, tc.c.IssuanceDate)
					if err != nil {
						t.Fatal(err)
					}
					raw = doc
				}
				v, err := Verify(context.Background(), raw, testOptions(t))
				if err != nil {
					t.Fatal(err)
				}
				got := v.Credential
				if got.ID != tc.c.ID || got.Issuer != tc.c.Issuer || got.Subject != tc.c.Subject ||
					!got.IssuanceDate.Equal(tc.c.IssuanceDate) || !got.ExpirationDate.Equal(tc.c.ExpirationDate) ||
					got.MaxSubdelegationDepth != tc.c.MaxSubdelegationDepth || got.ParentCredential != tc.c.ParentCredential ||
					!sameScopes(t, got.Scopes, tc.c.Scopes) || (got.Status == nil) != (tc.c.Status == nil) ||
					(got.Status != nil && *got.Status != *tc.c.Status) {
					t.Fatalf("read back %+v, want %+v", got, tc.c)
				}
				if v.Format != f || v.KID != k || !bytes.Equal(v.Raw, raw) || v.Digest != Digest(raw) {
					t.Fatalf("format %s kid %s digest %s", v.Format, v.KID, v.Digest)
				}
			})
		}
	}
}

// A VC-JWT may come as a JSON string (a "verifiableCredential" member of
// a request body): same credential, same digest of the token itself.
func TestVerifyQuotedJWT(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	tok, err := IssueJWT(priv, kid, testCredential(t))
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(tok)
	for _, raw := range [][]byte{[]byte(tok), quoted, append(append([]byte(" \n"), quoted...), '\n')} {
		v, err := Verify(context.Background(), raw, testOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		if string(v.Raw) != tok || v.Digest != Digest([]byte(tok)) {
			t.Fatalf("raw %q digest %s", v.Raw, v.Digest)
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	tok, err := IssueJWT(priv, kid, testCredential(t))
	if err != nil {
		t.Fatal(err)
	}
	ldp, err := IssueLDP(priv, kid, testCredential(t), mustTime(t, vectorFrom))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		code Code
	}{
		{"empty", nil, CodeFormatUnknown},
		{"blank", []byte("  \n"), CodeFormatUnknown},
		{"number", []byte("42"), CodeFormatUnknown},
		{"array", []byte("[]"), CodeFormatUnknown},
		{"object-without-proof", []byte(`{"a":1}`), CodeFormatUnknown},
		{"bad-json-object", []byte(`{"a":`), CodeMalformed},
		{"duplicate-member", append([]byte(`{"proof":1,`), ldp[1:]...), CodeMalformed},
		{"trailing-data", append(bytes.Clone(ldp), []byte(`{}`)...), CodeMalformed},
		{"too-big", bytes.Repeat([]byte("a"), MaxSize+1), CodeMalformed},
		{"jwt-two-parts", []byte("abc.def"), CodeFormatUnknown},
		{"jwt-padding", []byte(tok + "="), CodeMalformed},
		{"jwt-quoted-bad-string", []byte(`"abc`), CodeMalformed},
		{"jwt-signature-short", []byte(tok[:strings.LastIndexByte(tok, '.')+10]), CodeMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &testResolver{}
			_, err := Verify(context.Background(), tc.raw, VerifyOptions{Resolve: r.resolve, Now: mustTime(t, vectorNow)})
			if CodeOf(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if r.calls.Load() != 0 {
				t.Fatalf("junk cost %d resolutions", r.calls.Load())
			}
		})
	}
	if _, err := Verify(context.Background(), []byte(tok), VerifyOptions{Now: time.Now()}); err == nil || CodeOf(err) != "" {
		t.Fatalf("no resolver: %v", err)
	}
}

// The validity period with its skew, both formats.
func TestValidityWindow(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	c := testCredential(t)
	tok, _ := IssueJWT(priv, kid, c)
	doc, _ := IssueLDP(priv, kid, c, c.IssuanceDate)
	for _, tc := range []struct {
		name string
		now  time.Time
		code Code
	}{
		{"skew-before-issuance", c.IssuanceDate.Add(-Skew), ""},
		{"before-skew", c.IssuanceDate.Add(-Skew - time.Second), CodeNotYetValid},
		{"skew-after-expiry", c.ExpirationDate.Add(Skew), ""},
		{"after-skew", c.ExpirationDate.Add(Skew + time.Second), CodeExpired},
	} {
		for _, raw := range [][]byte{[]byte(tok), doc} {
			_, err := Verify(context.Background(), raw, VerifyOptions{Resolve: (&testResolver{}).resolve, Now: tc.now})
			if CodeOf(err) != tc.code || (tc.code == "" && err != nil) {
				t.Fatalf("%s: got %v, want %q", tc.name, err, tc.code)
			}
		}
	}
}

func TestResolverErrorIsWrapped(t *testing.T) {
	c := testCredential(t)
	c.Issuer = goneDID
	tok, err := IssueJWT(seedKey(seedOther), goneDID+"#key-1", c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(context.Background(), []byte(tok), testOptions(t))
	var re *did.ResolutionError
	if CodeOf(err) != CodeIssuerUnresolvable || !errors.As(err, &re) || re.Code != did.ErrorDeactivated {
		t.Fatalf("got %v", err)
	}
}

func TestIssueRefusals(t *testing.T) {
	priv, owner, kid := keyDID(seedOwner)
	good := testCredential(t)
	mut := func(f func(c *Credential)) Credential {
		c := good
		st := *good.Status
		c.Status = &st
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		kid  string
		c    Credential
		code Code
	}{
		{"kid-empty", "", good, CodeKIDInvalid},
		{"kid-no-fragment", owner, good, CodeKIDInvalid},
		{"kid-path", owner + "/p#k", good, CodeKIDInvalid},
		{"kid-other-did", aliceDID + "#key-1", good, CodeIssuerMismatch},
		{"id-not-uuid", kid, mut(func(c *Credential) { c.ID = "urn:uuid:nope" }), CodeMalformed},
		{"id-uppercase", kid, mut(func(c *Credential) { c.ID = strings.ToUpper(c.ID) }), CodeMalformed},
		{"id-v1", kid, mut(func(c *Credential) { c.ID = "urn:uuid:41414141-4141-1141-8141-414141414141" }), CodeMalformed},
		{"subject-not-did", kid, mut(func(c *Credential) { c.Subject = "agent" }), CodeMalformed},
		{"subject-is-issuer", kid, mut(func(c *Credential) { c.Subject = c.Issuer }), CodeMalformed},
		{"no-issuance", kid, mut(func(c *Credential) { c.IssuanceDate = time.Time{} }), CodeMalformed},
		{"fraction", kid, mut(func(c *Credential) { c.IssuanceDate = c.IssuanceDate.Add(time.Millisecond) }), CodeMalformed},
		{"expiry-before-issuance", kid, mut(func(c *Credential) { c.ExpirationDate = c.IssuanceDate }), CodeMalformed},
		{"depth-negative", kid, mut(func(c *Credential) { c.MaxSubdelegationDepth = -1 }), CodeMalformed},
		{"depth-too-big", kid, mut(func(c *Credential) { c.MaxSubdelegationDepth = MaxSubdelegationDepth + 1 }), CodeMalformed},
		{"parent-not-uuid", kid, mut(func(c *Credential) { c.ParentCredential = "cred-1" }), CodeMalformed},
		{"parent-is-self", kid, mut(func(c *Credential) { c.ParentCredential = c.ID }), CodeMalformed},
		{"no-scopes", kid, mut(func(c *Credential) { c.Scopes = nil }), CodeScopesInvalid},
		{"status-type", kid, mut(func(c *Credential) { c.Status.Type = "StatusList2021Entry" }), CodeStatusInvalid},
		{"status-purpose", kid, mut(func(c *Credential) { c.Status.Purpose = "suspension" }), CodeStatusInvalid},
		{"status-index-too-big", kid, mut(func(c *Credential) { *c.Status = NewStatusEntry(statusURL, StatusListSize) }), CodeStatusInvalid},
		{"status-id", kid, mut(func(c *Credential) { c.Status.ID = statusURL + "#1" }), CodeStatusInvalid},
		{"status-url-relative", kid, mut(func(c *Credential) { *c.Status = NewStatusEntry("/status/1", 3) }), CodeStatusInvalid},
		{"status-url-fragment", kid, mut(func(c *Credential) { *c.Status = NewStatusEntry(statusURL+"#x", 3) }), CodeStatusInvalid},
		{"status-url-ftp", kid, mut(func(c *Credential) { *c.Status = NewStatusEntry("ftp://x.example/1", 3) }), CodeStatusInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := IssueJWT(priv, tc.kid, tc.c); CodeOf(err) != tc.code {
				t.Errorf("IssueJWT: got %v, want %s", err, tc.code)
			}
			if _, err := IssueLDP(priv, tc.kid, tc.c, good.IssuanceDate); CodeOf(err) != tc.code {
				t.Errorf("IssueLDP: got %v, want %s", err, tc.code)
			}
		})
	}
	if _, err := IssueJWT(priv[:10], kid, good); err == nil {
		t.Error("IssueJWT accepted a short key")
	}
	if _, err := IssueLDP(priv, kid, good, good.IssuanceDate.Add(time.Millisecond)); CodeOf(err) != CodeMalformed {
		t.Errorf("IssueLDP with a fractional created: %v", err)
	}
	inexact := mut(func(c *Credential) { c.Scopes = mustScopes(t, strings.Replace(testScopes, "100", "0.1", 1)) })
	if _, err := IssueLDP(priv, kid, inexact, good.IssuanceDate); CodeOf(err) != CodeScopesInvalid {
		t.Errorf("IssueLDP with 0.1 in a constraint: %v", err)
	}
	if _, err := IssueJWT(priv, kid, inexact); err != nil {
		t.Errorf("IssueJWT with 0.1 in a constraint: %v", err)
	}
}

// recordingLoader records every URL asked of it and serves only the
// embedded contexts; anything else fails (it has no network either).
type recordingLoader struct {
	mu   sync.Mutex
	urls []string
}

func (l *recordingLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	l.mu.Lock()
	l.urls = append(l.urls, u)
	l.mu.Unlock()
	d, err := defaultLoader()
	if err != nil {
		return nil, err
	}
	return d.LoadDocument(u)
}

func TestContextsNeverFetched(t *testing.T) {
	priv, _, kid := keyDID(seedOwner)
	good, err := IssueLDP(priv, kid, testCredential(t), mustTime(t, vectorFrom))
	if err != nil {
		t.Fatal(err)
	}
	remote := bytes.Replace(good, []byte(`"@context":[`), []byte(`"@context":["https://evil.example/ctx/v1",`), 1)
	inline := bytes.Replace(good, []byte(`"@context":[`), []byte(`"@context":[{"@vocab":"https://evil.example/#"},`), 1)
	for _, tc := range []struct {
		name string
		raw  []byte
		code Code
	}{
		{"good", good, ""},
		{"remote", remote, CodeContextNotAllowed},
		{"inline", inline, CodeContextNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &recordingLoader{}
			opt := testOptions(t)
			opt.loader = l
			_, err := Verify(context.Background(), tc.raw, opt)
			if CodeOf(err) != tc.code || (tc.code == "" && err != nil) {
				t.Fatalf("got %v, want %q", err, tc.code)
			}
			for _, u := range l.urls {
				if _, ok := EmbeddedContexts()[u]; !ok {
					t.Fatalf("loader asked for %s", u)
				}
			}
		})
	}
	// The loader itself refuses any other URL, without a fetch.
	d, _ := defaultLoader()
	for _, u := range []string{"https://evil.example/ctx/v1", "http://www.w3.org/2018/credentials/v1", "https://www.w3.org/ns/did/v1", ""} {
		if _, err := d.LoadDocument(u); !errors.Is(err, ErrContextNotEmbedded) {
			t.Errorf("LoadDocument(%q): %v", u, err)
		}
	}
	// A remote context that gets past the @context check (there is none
	// today; this guards the JSON-LD step on its own) is refused by the
	// loader as context_not_allowed, never fetched.
	var m map[string]any
	_ = json.Unmarshal(remote, &m)
	if e := checkTerms(remote, d); e == nil || e.Code != CodeContextNotAllowed {
		t.Fatalf("checkTerms on a remote context: %v", e)
	}
}

// The embedded copies are the spec's files byte for byte.
func TestEmbeddedFilesMatchSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		got  []byte
	}{
		{"../../spec/contexts/delegation-v1.jsonld", Context()},
		{"../../spec/schemas/delegation-v1.json", Schema()},
	} {
		want, err := os.ReadFile(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, tc.got) {
			t.Errorf("%s differs from the embedded copy", tc.spec)
		}
	}
	for u, data := range EmbeddedContexts() {
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil || v["@context"] == nil {
			t.Errorf("%s: not a context document: %v", u, err)
		}
	}
}

func TestCodeOf(t *testing.T) {
	if CodeOf(nil) != "" || CodeOf(errors.New("x")) != "" {
		t.Fatal("CodeOf of a non-Error")
	}
	wrapped := errors.Join(errors.New("ctx"), fail(CodeExpired, "x"))
	if CodeOf(wrapped) != CodeExpired {
		t.Fatal("CodeOf does not unwrap")
	}
	e := failWrap(CodeIssuerUnresolvable, errors.New("boom"), "resolve %s", "d")
	if !strings.Contains(e.Error(), "boom") || !strings.HasPrefix(e.Error(), string(CodeIssuerUnresolvable)) {
		t.Fatalf("Error() = %q", e.Error())
	}
}
