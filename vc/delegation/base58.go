package delegation

import (
	"errors"
	"fmt"

	"github.com/clawnet/ledger/did"
)

// errProofValue is wrapped by every proofValue decoding failure.
var errProofValue = errors.New("invalid base58btc")

// decodeProofValue decodes a multibase base58btc string ('z' prefix).
func decodeProofValue(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != 'z' {
		return nil, fmt.Errorf("%w: not multibase base58btc ('z')", errProofValue)
	}
	b, err := did.Base58Decode(s[1:])
	if err != nil {
		return nil, err
	}
	if did.Base58Encode(b) != s[1:] {
		return nil, fmt.Errorf("%w: not canonical", errProofValue)
	}
	return b, nil
}
