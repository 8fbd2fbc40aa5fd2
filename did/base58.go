package did

import (
	"errors"
	"fmt"
)

// The Bitcoin base58 alphabet (base58btc in multibase terms).
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Index maps an ASCII byte to its digit value, or -1 if it is not in
// the alphabet.
var base58Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// errBase58 is wrapped by every base58 decoding failure.
var errBase58 = errors.New("invalid base58btc")

// maxBase58Len bounds the decoder's input: DIDs and keys are short, and the
// schoolbook algorithm below is quadratic.
const maxBase58Len = 1024

// base58Encode encodes b in base58btc: each leading zero byte becomes a '1',
// the rest is the big-endian number in base 58.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37, so this is enough room for the digits.
	digits := make([]byte, 0, (len(b)-zeros)*138/100+1)
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros+len(digits))
	for i := 0; i < zeros; i++ {
		out[i] = '1'
	}
	for i, d := range digits {
		out[len(out)-1-i] = base58Alphabet[d]
	}
	return string(out)
}

// base58Decode decodes base58btc. Every string of the alphabet decodes to
// exactly one byte string and base58Encode maps it back to the same string,
// so the encoding is canonical by construction; callers that need a
// canonical form (did:key) still compare the re-encoding, as a guard.
func base58Decode(s string) ([]byte, error) {
	if len(s) > maxBase58Len {
		return nil, fmt.Errorf("%w: longer than %d characters", errBase58, maxBase58Len)
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// Little-endian base-256 digits of the number.
	var num []byte
	for i := zeros; i < len(s); i++ {
		v := base58Index[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("%w: character %q at %d", errBase58, s[i], i)
		}
		carry := int(v)
		for j := range num {
			carry += int(num[j]) * 58
			num[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			num = append(num, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(num))
	for i, c := range num {
		out[len(out)-1-i] = c
	}
	return out, nil
}

// Base58Encode encodes b in base58btc (the Bitcoin alphabet; multibase
// prefix 'z' not included): each leading zero byte becomes a '1'. It is
// exported for the Data Integrity proofs of vc/, whose proofValue is
// multibase base58btc like a did:key.
func Base58Encode(b []byte) string { return base58Encode(b) }

// Base58Decode decodes base58btc (without the multibase prefix). Inputs
// over 1024 characters and characters outside the alphabet are refused
// with an error; every accepted string re-encodes to itself.
func Base58Decode(s string) ([]byte, error) { return base58Decode(s) }
