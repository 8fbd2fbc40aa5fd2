package verify

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/binding"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/internal/ldp"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	"github.com/piprate/json-gold/ld"
)

// ErrContextNotEmbedded is the embedded loader's answer for any URL that
// is not embedded: it never goes to the network.
var ErrContextNotEmbedded = ldp.ErrContextNotEmbedded

// Contexts returns every context URL a Data Integrity credential may use,
// with its document: vc/delegation's (VC 1.1, delegation, Bitstring
// Status List, Ed25519Signature2020) and vc/binding's.
func Contexts() map[string][]byte {
	m := delegation.EmbeddedContexts()
	m[binding.ContextURL] = binding.Context()
	return m
}

// ContextURLs returns the keys of Contexts, sorted.
func ContextURLs() []string {
	var out []string
	for u := range Contexts() {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

var (
	loaderOnce sync.Once
	loaderVal  *ldp.Loader
	loaderErr  error
)

// Loader returns the process-wide JSON-LD document loader that serves the
// embedded contexts and refuses every other URL without a fetch.
func Loader() (ld.DocumentLoader, error) {
	loaderOnce.Do(func() {
		loaderVal, loaderErr = ldp.NewLoader(Contexts())
	})
	if loaderErr != nil {
		return nil, loaderErr
	}
	return loaderVal, nil
}

func credentialLD(ctx context.Context, raw []byte, opt Options) (*VerifiedCredential, error) {
	ms, err := object(raw)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "credential")
	}
	if _, ok := ms.Get("proof"); !ok {
		return nil, fail(CodeFormatUnknown, "a JSON credential without a proof (neither VC-JWT nor Data Integrity)")
	}
	v, ok := ms.Get("@context")
	if !ok {
		return nil, fail(CodeMalformed, "credential: @context missing")
	}
	ctxs, err := stringSet(v)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "@context (inline contexts are not supported)")
	}
	// Checked before the loader sees anything: an unknown context makes
	// the credential unverifiable here, and is never fetched.
	embedded := Contexts()
	for _, u := range ctxs {
		if _, ok := embedded[u]; !ok {
			return nil, fail(CodeContextNotEmbedded, "@context %.200q is not one of the embedded contexts (remote contexts are never fetched)", u)
		}
	}
	loader := opt.Loader
	if loader == nil {
		if loader, err = Loader(); err != nil {
			return nil, err
		}
	}
	if e := checkTerms(raw, loader); e != nil {
		return nil, e
	}
	c := &VerifiedCredential{}
	if e := commonMembers(ms, c, "credential"); e != nil {
		return nil, e
	}
	if v, ok := ms.Get("id"); ok {
		if c.ID, err = strictjson.String(v); err != nil {
			return nil, failWrap(CodeMalformed, err, "id")
		}
	}
	if v, ok = ms.Get("issuer"); !ok {
		return nil, fail(CodeMalformed, "credential: issuer missing")
	}
	if c.Issuer, err = idOf(v); err != nil {
		return nil, failWrap(CodeMalformed, err, "issuer")
	}
	if v, ok = ms.Get("issuanceDate"); !ok {
		return nil, fail(CodeMalformed, "credential: issuanceDate missing (VC Data Model 1.1)")
	}
	var e *Error
	if c.ValidFrom, e = xsdDateTime(v, "issuanceDate"); e != nil {
		return nil, e
	}
	if v, ok = ms.Get("expirationDate"); ok {
		if c.ValidUntil, e = xsdDateTime(v, "expirationDate"); e != nil {
			return nil, e
		}
	}
	v, _ = ms.Get("proof")
	vm, e := parseProof(v)
	if e != nil {
		return nil, e
	}
	c.KID = vm
	pub, e := key(ctx, opt, c.Issuer, vm, did.AssertionMethod, CodeIssuerMismatch, CodeIssuerUnresolvable, CodeKeyNotAuthorized, "proof.verificationMethod")
	if e != nil {
		return nil, e
	}
	if err := ldp.VerifyProof(raw, vm, pub, loader); err != nil {
		return nil, failWrap(CodeSignatureInvalid, err, "proof does not verify with %.200s", vm)
	}
	if e := checkTime(c.ValidFrom, c.ValidUntil, opt.Now, CodeNotYetValid, CodeExpired); e != nil {
		return nil, e
	}
	c.Format, c.Raw, c.Digest = FormatLDP, slices.Clone(raw), Digest(raw)
	return c, nil
}

// parseProof reads the one Ed25519Signature2020 proof and returns its
// verificationMethod.
func parseProof(raw json.RawMessage) (string, *Error) {
	ms, err := object(raw)
	if err != nil {
		return "", failWrap(CodeMalformed, err, "proof (exactly one proof object)")
	}
	vals := map[string]string{}
	for _, n := range []string{"type", "created", "verificationMethod", "proofPurpose", "proofValue"} {
		v, ok := ms.Get(n)
		if !ok {
			return "", fail(CodeMalformed, "proof.%s missing", n)
		}
		if vals[n], err = strictjson.String(v); err != nil {
			return "", failWrap(CodeMalformed, err, "proof.%s", n)
		}
	}
	if vals["type"] != ProofType {
		return "", fail(CodeAlgNotAllowed, "proof.type %.64q, only %s is accepted", vals["type"], ProofType)
	}
	if vals["proofPurpose"] != ProofPurpose {
		return "", fail(CodeKeyNotAuthorized, "proof.proofPurpose %.64q, want %q", vals["proofPurpose"], ProofPurpose)
	}
	if _, e := kidDID(vals["verificationMethod"], CodeKIDInvalid, "proof.verificationMethod"); e != nil {
		return "", e
	}
	return vals["verificationMethod"], nil
}

// checkTerms refuses a document with a member that no context defines
// (ldp.LostTerm: JSON-LD would drop it, unsigned and unseen).
func checkTerms(raw []byte, loader ld.DocumentLoader) *Error {
	path, err := ldp.LostTerm(raw, loader)
	switch {
	case errors.Is(err, ldp.ErrNotJSONObject):
		return failWrap(CodeMalformed, err, "credential")
	case errors.Is(err, ldp.ErrContextNotLoaded):
		return failWrap(CodeContextNotEmbedded, err, "json-ld")
	case err != nil:
		return failWrap(CodeUndefinedTerm, err, "json-ld")
	case path != "":
		return fail(CodeUndefinedTerm, "%.200s is not defined by any context of the credential (json-ld would drop it)", path)
	}
	return nil
}
