package delegation

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clawnet/ledger/vc/internal/ldp"
	"github.com/clawnet/ledger/vc/internal/strictjson"
	processor "github.com/hyperledger/aries-framework-go/pkg/doc/signature/jsonld"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/signer"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite/ed25519signature2020"
	"github.com/piprate/json-gold/ld"
)

// IssueLDP signs c as a JSON-LD credential with an Ed25519Signature2020
// Data Integrity proof by priv, the key of verificationMethod (a DID URL of
// c.Issuer with a fragment, in the issuer's assertionMethod), created at
// created (whole seconds, UTC). It checks c as Verify would; those
// refusals are *Error values with Verify's codes. The result is compact
// JSON; its exact bytes are what Digest names.
func IssueLDP(priv ed25519.PrivateKey, verificationMethod string, c Credential, created time.Time) ([]byte, error) {
	if err := checkPrivateKey(priv); err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", err)
	}
	if err := checkIssue(&c, verificationMethod, "verificationMethod"); err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", err)
	}
	if err := checkDate(created, "proof.created"); err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", err)
	}
	loader, err := defaultLoader()
	if err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", err)
	}
	w, err := wireLD(&c)
	if err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", failWrap(CodeScopesInvalid, err, "scopes"))
	}
	if e := exactDoubles(w.Subject.Scopes); e != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", e)
	}
	unsigned, err := marshal(w)
	if err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", err)
	}
	createdUTC := created.UTC()
	s := signer.New(ed25519signature2020.New(suite.WithSigner(edSigner{priv})))
	signed, err := s.Sign(&signer.Context{
		SignatureType:      ProofType,
		Created:            &createdUTC,
		VerificationMethod: verificationMethod,
		Purpose:            ProofPurpose,
	}, unsigned, processor.WithDocumentLoader(loader))
	if err != nil {
		return nil, fmt.Errorf("issue delegation credential: sign: %w", err)
	}
	// aries returns the document as a map (member order lost): take its
	// proof and write the credential in the profile's member order.
	var out struct {
		Proof []wireProof `json:"proof"`
	}
	if err := json.Unmarshal(signed, &out); err != nil || len(out.Proof) != 1 {
		return nil, fmt.Errorf("issue delegation credential: read the proof of the signer: %v", err)
	}
	p := out.Proof[0]
	if p.Type != ProofType || p.VerificationMethod != verificationMethod || p.ProofPurpose != ProofPurpose ||
		p.Created != createdUTC.Format(dateLayout) || p.ProofValue == "" {
		return nil, fmt.Errorf("issue delegation credential: unexpected proof from the signer: %+v", p)
	}
	w.Proof = &p
	doc, err := marshal(w)
	if err != nil {
		return nil, fmt.Errorf("issue delegation credential: %w", err)
	}
	if len(doc) > MaxSize {
		return nil, fmt.Errorf("issue delegation credential: %w", fail(CodeMalformed, "credential of %d bytes exceeds %d", len(doc), MaxSize))
	}
	return doc, nil
}

// edSigner is the aries suite signer over a plain Ed25519 key (no KMS).
type edSigner struct{ priv ed25519.PrivateKey }

func (s edSigner) Sign(data []byte) ([]byte, error) { return ed25519.Sign(s.priv, data), nil }
func (s edSigner) Alg() string                      { return "EdDSA" }

// parseLD decodes a Data Integrity credential strictly, in the order of
// spec/delegation-credential.md: @context (only embedded contexts), every
// member a term an embedded context defines (JSON-LD expansion), then the
// profile's exact members and values, then the proof's. It returns the
// credential and the proof; nothing is verified yet.
func parseLD(raw []byte, loader ld.DocumentLoader) (*Credential, *wireProof, *Error) {
	ms, err := strictjson.Parse(raw)
	if err != nil {
		return nil, nil, failWrap(CodeMalformed, err, "credential")
	}
	rawCtx, ok := ms.Get("@context")
	if !ok {
		return nil, nil, fail(CodeMalformed, "credential: member \"@context\" missing")
	}
	if e := checkContexts(rawCtx, ldpContexts); e != nil {
		return nil, nil, e
	}
	if e := checkTerms(raw, loader); e != nil {
		return nil, nil, e
	}
	if e := members(ms, "credential", []string{"@context", "id", "type", "issuer", "issuanceDate", "expirationDate", "credentialSubject", "proof"},
		[]string{"credentialStatus"}); e != nil {
		return nil, nil, e
	}
	c := &Credential{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &c.ID}, {"issuer", &c.Issuer}} {
		v, _ := ms.Get(f.name)
		if *f.dst, err = strictjson.String(v); err != nil {
			return nil, nil, failWrap(CodeMalformed, err, "%s (an issuer object is not part of the profile)", f.name)
		}
	}
	v, _ := ms.Get("type")
	if e := checkTypes(v); e != nil {
		return nil, nil, e
	}
	var e *Error
	v, _ = ms.Get("issuanceDate")
	if c.IssuanceDate, e = parseDate(v, "issuanceDate"); e != nil {
		return nil, nil, e
	}
	v, _ = ms.Get("expirationDate")
	if c.ExpirationDate, e = parseDate(v, "expirationDate"); e != nil {
		return nil, nil, e
	}
	v, _ = ms.Get("credentialSubject")
	if e := parseSubject(v, true, c); e != nil {
		return nil, nil, e
	}
	cs, _ := strictjson.Parse(v)
	sc, _ := cs.Get("scopes")
	if e := exactDoubles(sc); e != nil {
		return nil, nil, e
	}
	if v, ok := ms.Get("credentialStatus"); ok {
		if c.Status, e = parseStatus(v); e != nil {
			return nil, nil, e
		}
	}
	if e := c.check(); e != nil {
		return nil, nil, e
	}
	v, _ = ms.Get("proof")
	p, e := parseProof(v)
	if e != nil {
		return nil, nil, e
	}
	return c, p, nil
}

// parseProof decodes the one Ed25519Signature2020 proof.
func parseProof(raw json.RawMessage) (*wireProof, *Error) {
	ms, err := strictjson.Parse(raw)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "proof (exactly one proof object)")
	}
	names := []string{"type", "created", "verificationMethod", "proofPurpose", "proofValue"}
	if e := members(ms, "proof", names, nil); e != nil {
		return nil, e
	}
	vals := make([]string, len(names))
	for i, n := range names {
		v, _ := ms.Get(n)
		if vals[i], err = strictjson.String(v); err != nil {
			return nil, failWrap(CodeMalformed, err, "proof.%s", n)
		}
	}
	p := &wireProof{Type: vals[0], Created: vals[1], VerificationMethod: vals[2], ProofPurpose: vals[3], ProofValue: vals[4]}
	if p.Type != ProofType {
		return nil, fail(CodeAlgNotAllowed, "proof.type %.64q, only %s is accepted", p.Type, ProofType)
	}
	if p.ProofPurpose != ProofPurpose {
		return nil, fail(CodeKeyNotAuthorized, "proof.proofPurpose %.64q, want %q", p.ProofPurpose, ProofPurpose)
	}
	cv, _ := ms.Get("created")
	if _, e := parseDate(cv, "proof.created"); e != nil {
		return nil, e
	}
	if _, e := parseKID(p.VerificationMethod, "proof.verificationMethod"); e != nil {
		return nil, e
	}
	sig, err := ldp.DecodeProofValue(p.ProofValue)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fail(CodeMalformed, "proof.proofValue is not a base58btc multibase ('z') Ed25519 signature")
	}
	return p, nil
}

// checkTerms refuses a document with a member that no embedded context
// defines (ldp.LostTerm: JSON-LD would drop it, unsigned and unseen). The
// profile's strict member checks come after this one, so that this code
// names the cause.
func checkTerms(raw []byte, loader ld.DocumentLoader) *Error {
	path, err := ldp.LostTerm(raw, loader)
	switch {
	case errors.Is(err, ldp.ErrNotJSONObject):
		return failWrap(CodeMalformed, err, "credential")
	case errors.Is(err, ldp.ErrContextNotLoaded):
		return failWrap(CodeContextNotAllowed, err, "json-ld")
	case err != nil:
		return failWrap(CodeUndefinedTerm, err, "json-ld")
	case path != "":
		return fail(CodeUndefinedTerm, "%s is not defined by any context of the credential (json-ld would drop it)", path)
	}
	return nil
}
