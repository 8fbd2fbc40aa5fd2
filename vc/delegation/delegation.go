package delegation

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
	"github.com/clawnet/ledger/vc/scope"
)

const (
	// Type is the credential type, the second entry of type.
	Type = "DelegationCredential"
	// VerifiableCredentialType is the first entry of type.
	VerifiableCredentialType = "VerifiableCredential"
	// CredentialsContextURL is the VC Data Model 1.1 base context, always
	// the first entry of @context.
	CredentialsContextURL = "https://www.w3.org/2018/credentials/v1"
	// ContextURL is the JSON-LD context of this credential type
	// (spec/contexts/delegation-v1.jsonld), the second entry of @context.
	ContextURL = "https://w3id.org/clawnet/delegation/v1"
	// StatusContextURL is the Bitstring Status List v1.0 context for VC Data
	// Model 1.1 credentials (the v2 base context defines the same terms
	// itself), the third entry of @context.
	StatusContextURL = "https://www.w3.org/ns/credentials/status/v1"
	// Ed25519ContextURL is the Ed25519Signature2020 suite context, the
	// fourth and last entry of @context in the Data Integrity format only
	// (it defines the proof's terms).
	Ed25519ContextURL = "https://w3id.org/security/suites/ed25519-2020/v1"

	// StatusEntryType and StatusPurposeRevocation are the only
	// credentialStatus type and purpose of this profile.
	StatusEntryType         = "BitstringStatusListEntry"
	StatusPurposeRevocation = "revocation"
	// StatusListSize is the number of entries of one status list (131,072
	// bits, 16 KiB, the Bitstring Status List v1.0 minimum): a
	// statusListIndex is below it.
	StatusListSize = 131072

	// ProofType, ProofPurpose: the only Data Integrity proof this profile
	// accepts.
	ProofType    = "Ed25519Signature2020"
	ProofPurpose = "assertionMethod"

	// JOSEType is the JWS "typ" of the VC-JWT format (VC Data Model 1.1
	// §6.3.1).
	JOSEType = "JWT"

	// MaxSize bounds a credential in either format; a credential with a
	// few dozen scopes is well under it.
	MaxSize = 64 << 10
	// MaxSubdelegationDepth bounds credentialSubject.maxSubdelegationDepth.
	MaxSubdelegationDepth = 8
	// Skew is the clock difference tolerated on issuanceDate and
	// expirationDate: a credential is accepted from issuanceDate - Skew to
	// expirationDate + Skew.
	Skew = 60 * time.Second
)

// dateLayout is the one form of a date in this profile: RFC 3339, UTC,
// whole seconds.
const dateLayout = "2006-01-02T15:04:05Z"

// Format is a credential encoding.
type Format string

const (
	// FormatJWT is VC-JWT: a compact JWS, EdDSA, claims iss/sub/jti/nbf/exp
	// and the credential in "vc".
	FormatJWT Format = "jwt"
	// FormatLDP is the JSON-LD credential with an Ed25519Signature2020
	// Data Integrity proof.
	FormatLDP Format = "ldp"
)

// Credential is what a delegation credential says: Issuer (the owner, or
// for a sub-delegation the delegating Identity Agent) gives Subject (an
// Identity Agent) Scopes from IssuanceDate to ExpirationDate.
type Credential struct {
	// ID is "urn:uuid:" and a lowercase version 4 UUID.
	ID string
	// Issuer and Subject are DIDs.
	Issuer  string
	Subject string
	// IssuanceDate and ExpirationDate bound the validity period, whole
	// seconds in UTC; both are required.
	IssuanceDate   time.Time
	ExpirationDate time.Time
	// Scopes are the granted scopes (spec/scope-language.md), at least
	// one; they are written in the scope language's canonical JSON.
	Scopes []scope.Scope
	// MaxSubdelegationDepth is how many further levels the subject may
	// sub-delegate (0: none), at most MaxSubdelegationDepth.
	MaxSubdelegationDepth int
	// ParentCredential is the id of the credential this one sub-delegates
	// from; empty for an owner's grant.
	ParentCredential string
	// Status is the revocation entry; nil when the credential has none.
	Status *StatusEntry
}

// StatusEntry is a Bitstring Status List v1.0 credentialStatus.
type StatusEntry struct {
	// ID is ListCredential + "#" + the decimal ListIndex.
	ID string
	// Type is StatusEntryType, Purpose StatusPurposeRevocation.
	Type    string
	Purpose string
	// ListIndex is the bit of this credential in the list, below
	// StatusListSize (statusListIndex, a decimal string on the wire).
	ListIndex uint64
	// ListCredential is the http(s) URL of the status list credential.
	ListCredential string
}

// NewStatusEntry returns the revocation entry of bit index in the list at
// listURL.
func NewStatusEntry(listURL string, index uint64) StatusEntry {
	return StatusEntry{
		ID:             listURL + "#" + strconv.FormatUint(index, 10),
		Type:           StatusEntryType,
		Purpose:        StatusPurposeRevocation,
		ListIndex:      index,
		ListCredential: listURL,
	}
}

// Verified is a delegation credential that passed every check of Verify.
type Verified struct {
	Credential
	// Format is the encoding it came in.
	Format Format
	// KID is the issuer's verification method that signed (the JWS kid or
	// the proof's verificationMethod).
	KID string
	// Raw is the credential's exact bytes: the compact JWS (unquoted if it
	// came as a JSON string) or the JSON-LD document.
	Raw []byte
	// Digest is Digest(Raw).
	Digest string
}

// Digest returns "sha256:" and the lowercase hex SHA-256 of raw: how log
// entries and the registry name one credential.
func Digest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NewID returns a new credential id, "urn:uuid:" and a version 4 UUID in
// lowercase (RFC 9562), from 16 bytes of rand (crypto/rand.Reader in
// production).
func NewID(rand io.Reader) (string, error) {
	var u [16]byte
	if _, err := io.ReadFull(rand, u[:]); err != nil {
		return "", fmt.Errorf("new credential id: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return "urn:uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// check validates everything about c that needs no key or clock, with
// Verify's codes. It is what Issue* run first, so that they never produce
// a credential Verify refuses.
func (c *Credential) check() *Error {
	if err := checkID(c.ID, "id"); err != nil {
		return err
	}
	if _, err := did.ParseDID(c.Issuer); err != nil {
		return failWrap(CodeMalformed, err, "issuer is not a DID")
	}
	if _, err := did.ParseDID(c.Subject); err != nil {
		return failWrap(CodeMalformed, err, "credentialSubject.id is not a DID")
	}
	if c.Issuer == c.Subject {
		return fail(CodeMalformed, "the subject is the issuer: a delegation is to another party")
	}
	if err := checkDate(c.IssuanceDate, "issuanceDate"); err != nil {
		return err
	}
	if err := checkDate(c.ExpirationDate, "expirationDate"); err != nil {
		return err
	}
	if !c.ExpirationDate.After(c.IssuanceDate) {
		return fail(CodeMalformed, "expirationDate %s is not after issuanceDate %s",
			c.ExpirationDate.UTC().Format(dateLayout), c.IssuanceDate.UTC().Format(dateLayout))
	}
	if c.MaxSubdelegationDepth < 0 || c.MaxSubdelegationDepth > MaxSubdelegationDepth {
		return fail(CodeMalformed, "maxSubdelegationDepth %d is not 0 to %d", c.MaxSubdelegationDepth, MaxSubdelegationDepth)
	}
	if c.ParentCredential != "" {
		if err := checkID(c.ParentCredential, "parentCredential"); err != nil {
			return err
		}
		if c.ParentCredential == c.ID {
			return fail(CodeMalformed, "parentCredential is the credential itself")
		}
	}
	if err := checkScopes(c.Scopes); err != nil {
		return err
	}
	if c.Status != nil {
		if err := c.Status.check(); err != nil {
			return err
		}
	}
	return nil
}

// checkDate accepts a time that the profile's date form can carry exactly.
func checkDate(t time.Time, what string) *Error {
	if t.IsZero() || t.Year() < 1970 || t.Year() > 9999 {
		return fail(CodeMalformed, "%s is missing or outside 1970 to 9999", what)
	}
	if t.Nanosecond() != 0 {
		return fail(CodeMalformed, "%s has a fraction of a second (the profile writes whole seconds)", what)
	}
	return nil
}

func (s *StatusEntry) check() *Error {
	if s.Type != StatusEntryType {
		return fail(CodeStatusInvalid, "credentialStatus.type %.64q, want %q", s.Type, StatusEntryType)
	}
	if s.Purpose != StatusPurposeRevocation {
		return fail(CodeStatusInvalid, "credentialStatus.statusPurpose %.64q, want %q", s.Purpose, StatusPurposeRevocation)
	}
	if s.ListIndex >= StatusListSize {
		return fail(CodeStatusInvalid, "credentialStatus.statusListIndex %d is not below %d", s.ListIndex, StatusListSize)
	}
	u, err := url.Parse(s.ListCredential)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.RawFragment != "" ||
		u.User != nil || u.Opaque != "" || u.String() != s.ListCredential || len(s.ListCredential) > 2048 {
		return fail(CodeStatusInvalid, "credentialStatus.statusListCredential %.200q is not an absolute http(s) URL without fragment", s.ListCredential)
	}
	if want := s.ListCredential + "#" + strconv.FormatUint(s.ListIndex, 10); s.ID != want {
		return fail(CodeStatusInvalid, "credentialStatus.id %.200q, want %q (the list URL and the index)", s.ID, want)
	}
	return nil
}

// checkID accepts "urn:uuid:" and a lowercase RFC 9562 version 4 UUID.
func checkID(id, what string) *Error {
	const prefix = "urn:uuid:"
	if len(id) != len(prefix)+36 || id[:len(prefix)] != prefix {
		return fail(CodeMalformed, "%s %.64q is not urn:uuid:<uuid>", what, id)
	}
	h := id[len(prefix):]
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fail(CodeMalformed, "%s %q is not a UUID", what, id)
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return fail(CodeMalformed, "%s %q is not a lowercase hex UUID", what, id)
			}
		}
	}
	if h[14] != '4' || !(h[19] == '8' || h[19] == '9' || h[19] == 'a' || h[19] == 'b') {
		return fail(CodeMalformed, "%s %q is not a version 4 (random) UUID", what, id)
	}
	return nil
}

// parseKID accepts a DID URL whose fragment names a verification method
// (vcjwt.ParseKID); what names it in messages.
func parseKID(kid, what string) (did.DIDURL, *Error) {
	u, f := vcjwt.ParseKID(kid, what)
	if f != nil {
		return u, jwtFail(f)
	}
	return u, nil
}

func checkPrivateKey(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("ed25519 private key of %d bytes", len(priv))
	}
	return nil
}
