package binding

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/vc/internal/vcjwt"
)

const (
	// Type is the credential type, the second entry of vc.type.
	Type = "AgentBindingCredential"
	// ContextURL is the JSON-LD context that defines Type and the subject's
	// role and context; the second entry of vc.@context. A copy is embedded
	// (Context), so nothing is ever fetched.
	ContextURL = "https://w3id.org/clawnet/binding/v1"
	// CredentialsContextURL is the VC Data Model 1.1 base context, always
	// the first entry of vc.@context.
	CredentialsContextURL = "https://www.w3.org/2018/credentials/v1"
	// VerifiableCredentialType is the first entry of vc.type.
	VerifiableCredentialType = "VerifiableCredential"
	// JOSEType is the JWS "typ" of a binding credential, the value VC-JWT
	// (VC Data Model 1.1 §6.3.1) uses.
	JOSEType = "JWT"
	// MaxTokenLen bounds the compact JWS. A binding credential with two
	// long did:web DIDs is well under 2 KiB.
	MaxTokenLen = 8 << 10
	// Skew is the clock difference tolerated on nbf and exp: a credential is
	// accepted from nbf - Skew to exp + Skew.
	Skew = 60 * time.Second
)

// maxNumericDate is 9999-12-31T23:59:59Z: later times do not fit the
// RFC 3339 dates the rest of the system writes.
const maxNumericDate = 253402300799

// Role is what an agent is to its owner.
type Role string

const (
	// RoleManager is the owner's one Manager Agent: it sees every context of
	// the owner and never talks to anyone outside the owner's agent system.
	RoleManager Role = "manager"
	// RoleIdentity is an Identity Agent: the face of the owner in one
	// context ("work", "family"), the only kind that meets contacts.
	RoleIdentity Role = "identity"
)

// Binding is what a binding credential says: owner Issuer binds agent
// Subject as Role (in Context, for an Identity Agent).
type Binding struct {
	// ID is the credential id, "urn:uuid:" and a lowercase version 4 UUID
	// (the JWT jti).
	ID string
	// Issuer is the owner's DID (iss), Subject the agent's DID (sub).
	Issuer  string
	Subject string
	// Role is manager or identity.
	Role Role
	// Context is the Identity Agent's context name; empty for a manager.
	Context string
	// IssuedAt is the issuance time (nbf and iat), whole seconds.
	IssuedAt time.Time
	// Expires is the expiry (exp); zero means the credential does not
	// expire (it ends when the owner unbinds the agent).
	Expires time.Time
}

// Verified is a binding credential that passed every check of Verify.
type Verified struct {
	Binding
	// KID is the issuer's verification method that signed.
	KID string
	// Token is the compact JWS as verified.
	Token string
	// Digest is Digest(Token).
	Digest string
}

// The claim set, in the order Issue writes it. VC-JWT carries the
// credential's id, issuer, issuanceDate, expirationDate and
// credentialSubject.id in jti, iss, nbf, exp and sub; this profile writes
// them there only ("instead of", never "in addition to": one place per
// fact, so that no credential can state a fact two ways).
type claims struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub"`
	ID        string     `json:"jti"`
	NotBefore int64      `json:"nbf"`
	IssuedAt  int64      `json:"iat"`
	Expires   int64      `json:"exp,omitempty"`
	VC        credential `json:"vc"`
}

type credential struct {
	Context []string `json:"@context"`
	Type    []string `json:"type"`
	Subject subject  `json:"credentialSubject"`
}

type subject struct {
	Role    Role   `json:"role"`
	Context string `json:"context,omitempty"`
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

// Digest returns "sha256:" and the lowercase hex SHA-256 of the token's
// bytes: how log entries and the registry name one credential.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Issue signs b as a binding credential with priv, the key of the issuer's
// verification method kid (a DID URL of b.Issuer with a fragment, which
// must be in the issuer's assertionMethod for the credential to verify).
// It checks b as Verify would, so that it never issues a credential Verify
// refuses; the refusals are *Error values with Verify's codes. Times are
// written in whole seconds (the sub-second part of b's times is dropped).
func Issue(priv ed25519.PrivateKey, kid string, b Binding) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("issue binding credential: ed25519 private key of %d bytes", len(priv))
	}
	u, kerr := parseKID(kid)
	if kerr != nil {
		return "", fmt.Errorf("issue binding credential: %w", kerr)
	}
	if u.DID != b.Issuer {
		return "", fmt.Errorf("issue binding credential: %w", fail(CodeIssuerMismatch, "kid %q is not a method of the issuer %q", kid, b.Issuer))
	}
	c := claims{
		Issuer:    b.Issuer,
		Subject:   b.Subject,
		ID:        b.ID,
		NotBefore: b.IssuedAt.Unix(),
		IssuedAt:  b.IssuedAt.Unix(),
		VC: credential{
			Context: []string{CredentialsContextURL, ContextURL},
			Type:    []string{VerifiableCredentialType, Type},
			Subject: subject{Role: b.Role, Context: b.Context},
		},
	}
	if !b.Expires.IsZero() {
		c.Expires = b.Expires.Unix()
	}
	if cerr := c.check(); cerr != nil {
		return "", fmt.Errorf("issue binding credential: %w", cerr)
	}
	if cerr := checkRole(b.Role, b.Context, b.Context != ""); cerr != nil {
		return "", fmt.Errorf("issue binding credential: %w", cerr)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("issue binding credential: %w", err)
	}
	tok, err := vcjwt.Sign(priv, kid, payload)
	if err != nil {
		return "", fmt.Errorf("issue binding credential: %w", err)
	}
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("issue binding credential: %w", fail(CodeMalformed, "token of %d bytes exceeds %d", len(tok), MaxTokenLen))
	}
	return tok, nil
}

// parseKID accepts a DID URL whose fragment names a verification method
// (vcjwt.ParseKID).
func parseKID(kid string) (did.DIDURL, *Error) {
	u, f := vcjwt.ParseKID(kid, "kid")
	if f != nil {
		return u, jwtFail(f)
	}
	return u, nil
}

// check validates the claims that do not need a key or a clock: the ids,
// the DIDs and the times (not the role and context, which Verify checks
// last).
func (c *claims) check() *Error {
	if err := checkID(c.ID); err != nil {
		return err
	}
	if _, err := did.ParseDID(c.Issuer); err != nil {
		return failWrap(CodeMalformed, err, "iss is not a DID")
	}
	if _, err := did.ParseDID(c.Subject); err != nil {
		return failWrap(CodeMalformed, err, "sub is not a DID")
	}
	if c.Issuer == c.Subject {
		return fail(CodeMalformed, "sub is the issuer: an owner cannot be its own agent")
	}
	if c.NotBefore < 1 || c.NotBefore > maxNumericDate {
		return fail(CodeMalformed, "nbf %d is out of range (1 to %d)", c.NotBefore, int64(maxNumericDate))
	}
	if c.IssuedAt != c.NotBefore {
		return fail(CodeMalformed, "iat %d differs from nbf %d (both are the issuance time)", c.IssuedAt, c.NotBefore)
	}
	if c.Expires != 0 && (c.Expires <= c.NotBefore || c.Expires > maxNumericDate) {
		return fail(CodeMalformed, "exp %d is not after nbf %d, or out of range", c.Expires, c.NotBefore)
	}
	return nil
}

// checkID accepts "urn:uuid:" and a lowercase RFC 9562 version 4 UUID.
func checkID(id string) *Error {
	h, ok := cutPrefix(id, "urn:uuid:")
	if !ok || len(h) != 36 {
		return fail(CodeMalformed, "jti %.64q is not urn:uuid:<uuid>", id)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fail(CodeMalformed, "jti %q is not a UUID", id)
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return fail(CodeMalformed, "jti %q is not a lowercase hex UUID", id)
			}
		}
	}
	if h[14] != '4' || !(h[19] == '8' || h[19] == '9' || h[19] == 'a' || h[19] == 'b') {
		return fail(CodeMalformed, "jti %q is not a version 4 (random) UUID", id)
	}
	return nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return s, false
	}
	return s[len(prefix):], true
}

// checkRole applies the rules of layered identity that the credential
// carries: a manager has no context; an identity agent has a context name.
// hasContext tells a present empty context from an absent one.
func checkRole(r Role, context string, hasContext bool) *Error {
	switch r {
	case RoleManager:
		if hasContext {
			return fail(CodeContextInvalid, "a manager agent has no context, got %.64q", context)
		}
	case RoleIdentity:
		if !hasContext {
			return fail(CodeContextInvalid, "an identity agent needs a context")
		}
		if !ValidContext(context) {
			return fail(CodeContextInvalid, "context %.80q is not 1 to 63 of [a-z0-9-], starting and ending with a letter or digit", context)
		}
	default:
		return fail(CodeRoleInvalid, "role %.32q is not %q or %q", r, RoleManager, RoleIdentity)
	}
	return nil
}

// ValidContext reports whether name is a context name:
// ^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$ (a DNS label in lowercase).
func ValidContext(name string) bool {
	if len(name) < 1 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
