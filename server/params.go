package server

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/clawnet/ledger/transparency"
)

// maxEcho bounds how much of a bad parameter an error message repeats.
const maxEcho = 40

func echo(s string) string {
	if len(s) > maxEcho {
		return strconv.Quote(s[:maxEcho]) + "…"
	}
	return strconv.Quote(s)
}

// parseUint parses a canonical decimal uint64: digits only, no sign, no
// leading zeros (except "0"), no overflow. Canonical spelling means one
// resource has one URL, which keeps caches and logs honest.
func parseUint(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errors.New("does not fit in 64 bits")
		}
		return 0, errors.New("is not a non-negative decimal integer")
	}
	if strconv.FormatUint(v, 10) != s {
		return 0, errors.New("has leading zeros")
	}
	return v, nil
}

// parseIndex parses an entry index; failures are 400 bad_index.
func parseIndex(name, s string) (uint64, error) {
	v, err := parseUint(s)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, CodeBadIndex, "%s %s %v", name, echo(s), err)
	}
	return v, nil
}

// parseSize parses a tree size; failures are 400 bad_size.
func parseSize(name, s string) (uint64, error) {
	v, err := parseUint(s)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, CodeBadSize, "%s %s %v", name, echo(s), err)
	}
	return v, nil
}

// hashEncodings are the spellings of a leaf hash we accept besides hex,
// each strict (no stray padding, no non-canonical trailing bits).
var hashEncodings = []*base64.Encoding{
	base64.StdEncoding.Strict(),
	base64.RawStdEncoding.Strict(),
	base64.URLEncoding.Strict(),
	base64.RawURLEncoding.Strict(),
}

// parseLeafHash parses a 32-byte hash written as 64 hex digits or as
// base64 (standard or URL alphabet, padded or not). A space is read as
// '+': a '+' that was not percent-encoded in a query string arrives as a
// space, and a space is never valid base64, so this is unambiguous.
func parseLeafHash(s string) (transparency.Hash, error) {
	var h transparency.Hash
	if len(s) == 2*transparency.HashSize {
		if b, err := hex.DecodeString(s); err == nil {
			copy(h[:], b)
			return h, nil
		}
	}
	if len(s) <= 44 {
		t := strings.ReplaceAll(s, " ", "+")
		for _, enc := range hashEncodings {
			if b, err := enc.DecodeString(t); err == nil && len(b) == transparency.HashSize {
				copy(h[:], b)
				return h, nil
			}
		}
	}
	return h, errorf(http.StatusBadRequest, CodeBadHash,
		"leaf_hash %s is not 32 bytes in hex (64 digits) or base64", echo(s))
}

// queryParams checks that q holds only known parameters, each at most once,
// and returns their values ("" when absent) with whether each was present.
func queryParams(q url.Values, known ...string) (map[string]string, error) {
	for k := range q {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return nil, errorf(http.StatusBadRequest, CodeBadRequest,
				"unknown query parameter %s (known: %s)", echo(k), strings.Join(known, ", "))
		}
	}
	out := map[string]string{}
	for _, n := range known {
		vs, ok := q[n]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return nil, errorf(http.StatusBadRequest, CodeBadRequest, "query parameter %s given %d times", n, len(vs))
		}
		out[n] = vs[0]
	}
	return out, nil
}
