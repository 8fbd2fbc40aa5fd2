package status

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
)

const (
	// MinBits is the smallest bitstring the spec allows: 131,072 entries
	// of one bit, 16 KiB uncompressed (§3.2 encodedList; the Validate
	// Algorithm's minimumNumberOfEntries). Below it a list gives too
	// little herd privacy, and Decode refuses it (CodeListTooShort).
	MinBits = 131072
	// DefaultMaxBytes is the largest uncompressed bitstring Decode
	// accepts: 16 MiB, 134,217,728 entries, far beyond any list this
	// server makes, yet small enough that a decompression bomb costs at
	// most that much memory.
	DefaultMaxBytes = 16 << 20
	// MaxCompressedBytes bounds the GZIP data of an encodedList before it
	// is inflated: a 16 MiB random bitstring does not compress, but a real
	// revocation list is mostly zeros; 1 MiB holds any list with up to
	// about 8 million revocations.
	MaxCompressedBytes = 1 << 20
)

// Bitstring is a status list: bit i is the status of the credential whose
// statusListIndex is i. Index 0 is the most significant (left-most) bit of
// the first byte and the last index the least significant bit of the last
// byte (§3.2 encodedList, §6.1 Bitstring Encoding). Its length is a
// multiple of 8 and at least MinBits. A Bitstring is not safe for
// concurrent mutation.
type Bitstring struct {
	b []byte
}

// NewBitstring returns a bitstring of n bits, all 0. n must be a multiple
// of 8, at least MinBits and at most DefaultMaxBytes*8.
func NewBitstring(n int) (*Bitstring, error) {
	if n%8 != 0 || n < MinBits || n > DefaultMaxBytes*8 {
		return nil, fail(CodeMalformed, "bitstring of %d bits: want a multiple of 8 from %d to %d", n, MinBits, DefaultMaxBytes*8)
	}
	return &Bitstring{b: make([]byte, n/8)}, nil
}

// BitstringFromBytes returns a bitstring over a copy of b, whose bit 7 of
// b[0] is index 0. len(b) must be from MinBits/8 to DefaultMaxBytes.
func BitstringFromBytes(b []byte) (*Bitstring, error) {
	if len(b) < MinBits/8 {
		return nil, fail(CodeListTooShort, "bitstring of %d bytes, the minimum is %d", len(b), MinBits/8)
	}
	if len(b) > DefaultMaxBytes {
		return nil, fail(CodeListTooLarge, "bitstring of %d bytes, the maximum is %d", len(b), DefaultMaxBytes)
	}
	return &Bitstring{b: bytes.Clone(b)}, nil
}

// Len is the number of bits.
func (s *Bitstring) Len() uint64 { return uint64(len(s.b)) * 8 }

// Bytes returns a copy of the bitstring's bytes.
func (s *Bitstring) Bytes() []byte { return bytes.Clone(s.b) }

// Clone returns an independent copy.
func (s *Bitstring) Clone() *Bitstring { return &Bitstring{b: bytes.Clone(s.b)} }

// Get returns bit i; an index at or beyond Len is CodeIndexOutOfRange.
func (s *Bitstring) Get(i uint64) (bool, error) {
	if i >= s.Len() {
		return false, fail(CodeIndexOutOfRange, "index %d is beyond the list's %d entries", i, s.Len())
	}
	return s.b[i/8]&(0x80>>(i%8)) != 0, nil
}

// Set sets bit i to v; an index at or beyond Len is CodeIndexOutOfRange.
func (s *Bitstring) Set(i uint64, v bool) error {
	if i >= s.Len() {
		return fail(CodeIndexOutOfRange, "index %d is beyond the list's %d entries", i, s.Len())
	}
	if v {
		s.b[i/8] |= 0x80 >> (i % 8)
	} else {
		s.b[i/8] &^= 0x80 >> (i % 8)
	}
	return nil
}

// Count returns the number of bits set.
func (s *Bitstring) Count() int {
	n := 0
	for _, c := range s.b {
		for ; c != 0; c &= c - 1 {
			n++
		}
	}
	return n
}

// Encode returns the encodedList of the bitstring: "u" (the multibase
// prefix of base64url without padding) and the base64url, without
// padding, of the GZIP (RFC 1952) compression of the bytes (§3.2, §3.3
// Bitstring Generation Algorithm). The GZIP header carries no name, no
// comment and a zero modification time, so the encoding of a bitstring
// is the same every time (it is not the exact byte string other GZIP
// implementations produce: the spec fixes the decompressed value only).
func (s *Bitstring) Encode() (string, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := zw.Write(s.b); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if buf.Len() > MaxCompressedBytes {
		return "", fail(CodeListTooLarge, "the bitstring compresses to %d bytes, more than Decode accepts (%d)", buf.Len(), MaxCompressedBytes)
	}
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// Decode parses an encodedList with the default limits: DecodeLimit(s,
// DefaultMaxBytes).
func Decode(s string) (*Bitstring, error) { return DecodeLimit(s, DefaultMaxBytes) }

// DecodeLimit parses an encodedList (§3.4 Bitstring Expansion Algorithm):
// the multibase prefix "u", base64url without padding (strict: no padding,
// no other alphabet, no non-zero trailing bits), then exactly one GZIP
// member with a valid CRC-32 and length, and nothing after it. It refuses
// (CodeListTooLarge) compressed data over MaxCompressedBytes and anything
// that inflates past maxBytes, without inflating more than maxBytes+1
// bytes; and (CodeListTooShort) a bitstring under MinBits. Every other
// defect is CodeMalformed.
func DecodeLimit(s string, maxBytes int) (*Bitstring, error) {
	if maxBytes < MinBits/8 || maxBytes > DefaultMaxBytes {
		maxBytes = DefaultMaxBytes
	}
	if len(s) == 0 || s[0] != 'u' {
		return nil, fail(CodeMalformed, "encodedList does not start with the multibase prefix \"u\" (base64url without padding)")
	}
	if base64.RawURLEncoding.DecodedLen(len(s)-1) > MaxCompressedBytes {
		return nil, fail(CodeListTooLarge, "encodedList of %d characters is over %d compressed bytes", len(s), MaxCompressedBytes)
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return nil, fail(CodeMalformed, "encodedList has character %q (not base64url without padding)", c)
		}
	}
	z, err := base64.RawURLEncoding.Strict().DecodeString(s[1:])
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "encodedList is not base64url")
	}
	r := bytes.NewReader(z)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "encodedList is not GZIP")
	}
	// One member only: a second one could hide data that another
	// implementation would or would not read.
	zr.Multistream(false)
	b, err := io.ReadAll(io.LimitReader(zr, int64(maxBytes)+1))
	if err != nil {
		return nil, failWrap(CodeMalformed, err, "encodedList does not inflate")
	}
	if len(b) > maxBytes {
		return nil, fail(CodeListTooLarge, "encodedList inflates past %d bytes", maxBytes)
	}
	// ReadAll reached the member's end, so its CRC-32 and size are
	// checked; bytes.Reader is an io.ByteReader, so flate did not read
	// ahead and what is left is after the member.
	if r.Len() != 0 {
		return nil, fail(CodeMalformed, "encodedList has %d bytes after the GZIP member", r.Len())
	}
	if len(b) < MinBits/8 {
		return nil, fail(CodeListTooShort, "bitstring of %d bytes, the minimum is %d (%d entries)", len(b), MinBits/8, MinBits)
	}
	return &Bitstring{b: b}, nil
}
