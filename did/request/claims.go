package request

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

const (
	// Scheme is the HTTP authentication scheme of the Authorization header.
	Scheme = "ClawNet-JWS"
	// Type is the JWS "typ" of a signed request (explicit typing, RFC 8725
	// §3.11), so that no other JWS signed by the same key is accepted here.
	Type = "clawnet-request+jwt"
	// MaxLifetime bounds exp - iat.
	MaxLifetime = 300 * time.Second
	// DefaultSkew is the clock skew tolerated on both iat and exp when
	// Config.Skew is zero: one minute, enough for machines synchronised by
	// NTP and short enough to keep the replay window small.
	DefaultSkew = 60 * time.Second
	// maxTokenLen bounds the compact JWS read from the header.
	maxTokenLen = 8 << 10

	minJTILen = 16
	maxJTILen = 128
)

// Claims is the payload of a signed request. It is exactly this JSON object:
// no other member is accepted.
type Claims struct {
	// Audience is the server's origin, e.g. "https://ledger.example".
	Audience string `json:"aud"`
	// Method is the HTTP method, e.g. "POST".
	Method string `json:"htm"`
	// URI is the request target in origin form, path and query exactly as
	// sent, e.g. "/v1/owners?dryRun=1".
	URI string `json:"htu"`
	// BodyDigest is BodyDigest(body): "sha256:" and the lowercase hex
	// SHA-256 of the exact body bytes.
	BodyDigest string `json:"bd"`
	// IssuedAt and Expires are NumericDates (seconds since the epoch).
	IssuedAt int64 `json:"iat"`
	Expires  int64 `json:"exp"`
	// ID is the single-use jti: 16 to 128 characters of [A-Za-z0-9._~-].
	ID string `json:"jti"`
}

// BodyDigest returns "sha256:<hex>" of body; the empty body has the digest
// of the empty string.
func BodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RequestDigest is the digest that identifies a signed request in the log:
// "sha256:" and the lowercase hex SHA-256 of the compact JWS exactly as it
// was sent. The JWS binds method, target, body digest, time and jti, so
// the digest names one request, and whoever holds the JWS and the body can
// show which log entries it caused.
func RequestDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// check validates the claims on their own (not against a request).
func (c *Claims) check() error {
	switch {
	case c.Audience == "":
		return errors.New("aud is empty")
	case c.Method == "":
		return errors.New("htm is empty")
	case c.URI == "" || c.URI[0] != '/':
		return fmt.Errorf("htu %q is not an origin-form request target", c.URI)
	case !validDigest(c.BodyDigest):
		return fmt.Errorf("bd %q is not sha256:<64 lowercase hex>", c.BodyDigest)
	case c.IssuedAt <= 0:
		return errors.New("iat is missing or not positive")
	case c.Expires <= c.IssuedAt:
		return errors.New("exp is not after iat")
	}
	return checkJTI(c.ID)
}

func validDigest(d string) bool {
	h, ok := bytes.CutPrefix([]byte(d), []byte("sha256:"))
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func checkJTI(j string) error {
	if len(j) < minJTILen || len(j) > maxJTILen {
		return fmt.Errorf("jti has %d characters, want %d to %d", len(j), minJTILen, maxJTILen)
	}
	for i := 0; i < len(j); i++ {
		c := j[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return fmt.Errorf("jti has character %q", c)
		}
	}
	return nil
}

// parseClaims decodes the payload strictly: one JSON object with exactly the
// members of Claims, each once, integers for the times.
func parseClaims(payload []byte) (Claims, error) {
	var c Claims
	if err := decodeFlat(payload, []flatField{
		{name: "aud", str: &c.Audience}, {name: "htm", str: &c.Method}, {name: "htu", str: &c.URI},
		{name: "bd", str: &c.BodyDigest}, {name: "iat", num: &c.IssuedAt}, {name: "exp", num: &c.Expires},
		{name: "jti", str: &c.ID},
	}, true); err != nil {
		return c, err
	}
	return c, c.check()
}

type unknownMemberError struct{ name string }

func (e *unknownMemberError) Error() string { return fmt.Sprintf("member %q not allowed", e.name) }
