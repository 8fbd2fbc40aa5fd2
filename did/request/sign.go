package request

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Sign returns the compact JWS of claims c, signed with priv, with the
// protected header {"alg":"EdDSA","kid":kid,"typ":Type}. kid must be a DID
// URL with a fragment naming priv's verification method; the claims must
// be well formed with exp - iat <= MaxLifetime.
func Sign(priv ed25519.PrivateKey, kid string, c Claims) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("sign request: ed25519 private key of %d bytes", len(priv))
	}
	if err := checkKID(kid); err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	if time.Duration(c.Expires-c.IssuedAt)*time.Second > MaxLifetime {
		return "", fmt.Errorf("sign request: lifetime %ds exceeds %s", c.Expires-c.IssuedAt, MaxLifetime)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, Type); err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	return string(tok), nil
}

// checkKID accepts a DID URL whose fragment names a verification method,
// with no path or query (which would change what the URL dereferences to).
func checkKID(kid string) error {
	u, err := did.ParseDIDURL(kid)
	if err != nil {
		return fmt.Errorf("kid: %w", err)
	}
	if u.Fragment == "" || u.Path != "" || u.Query != "" {
		return fmt.Errorf("kid %q is not a DID URL of the form did:<method>:<id>#<fragment>", kid)
	}
	return nil
}

// Signer signs outgoing *http.Request values for one key.
type Signer struct {
	// Key signs; KID is the DID URL of its verification method, e.g.
	// did:key:z6Mk…#z6Mk….
	Key ed25519.PrivateKey
	KID string
	// Audience is the server's origin, the aud claim.
	Audience string
	// Now is the clock; required, so that tests and callers choose it.
	Now func() time.Time
	// Lifetime is exp - iat; 0 means 60 s. At most MaxLifetime.
	Lifetime time.Duration
	// Rand is the source of the jti; nil means crypto/rand.
	Rand io.Reader
}

// SignRequest sets the Authorization header of r to a signed request over
// its method, request target and body. It reads r.Body and replaces it (and
// GetBody) with the same bytes, so r can still be sent.
func (s *Signer) SignRequest(r *http.Request) error {
	if s.Now == nil {
		return fmt.Errorf("sign request: Signer.Now is nil")
	}
	lifetime := s.Lifetime
	if lifetime == 0 {
		lifetime = 60 * time.Second
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return fmt.Errorf("sign request: read body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var j [16]byte
	if _, err := io.ReadFull(rnd, j[:]); err != nil {
		return fmt.Errorf("sign request: jti: %w", err)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	now := s.Now().Unix()
	tok, err := Sign(s.Key, s.KID, Claims{
		Audience:   s.Audience,
		Method:     method,
		URI:        r.URL.RequestURI(),
		BodyDigest: BodyDigest(body),
		IssuedAt:   now,
		Expires:    now + int64(lifetime/time.Second),
		ID:         base64.RawURLEncoding.EncodeToString(j[:]),
	})
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", Scheme+" "+tok)
	return nil
}
