// Package ldp is the Data Integrity machinery shared by vc/delegation and
// vc/verify: a JSON-LD document loader that serves embedded contexts only
// (never the network), the verification of an Ed25519Signature2020 proof
// (W3C Ed25519Signature2020 suite: URDNA2015 canonicalization of the
// document without its proof and of the proof options, SHA-256 of each,
// through aries-framework-go's verifier), and the decoding of its
// multibase base58btc proofValue.
package ldp

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/clawnet/ledger/did"
	processor "github.com/hyperledger/aries-framework-go/pkg/doc/signature/jsonld"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite/ed25519signature2020"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/verifier"
	"github.com/piprate/json-gold/ld"
)

// ErrContextNotEmbedded is a Loader's answer for any URL that is not an
// embedded context: it never goes to the network.
var ErrContextNotEmbedded = errors.New("json-ld context is not embedded (remote contexts are never fetched)")

// Loader is a json-gold DocumentLoader that serves only the contexts it
// was made with. Documents are parsed once; json-gold does not modify a
// loaded context document, so a Loader is safe for concurrent use.
type Loader struct {
	docs map[string]*ld.RemoteDocument
}

// NewLoader parses every context of docs (URL to document).
func NewLoader(docs map[string][]byte) (*Loader, error) {
	l := &Loader{docs: map[string]*ld.RemoteDocument{}}
	for u, data := range docs {
		doc, err := ld.DocumentFromReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("parse embedded context %s: %w", u, err)
		}
		l.docs[u] = &ld.RemoteDocument{DocumentURL: u, Document: doc}
	}
	return l, nil
}

// LoadDocument implements ld.DocumentLoader.
func (l *Loader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	if d, ok := l.docs[u]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("load %.200s: %w", u, ErrContextNotEmbedded)
}

// VerifyProof checks the Ed25519Signature2020 proof of doc with pub, the
// key of verification method vm (the only method the verifier will look
// up: the caller has authorized it), loading contexts with loader.
func VerifyProof(doc []byte, vm string, pub ed25519.PublicKey, loader ld.DocumentLoader) error {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return err
	}
	v, err := verifier.New(keyFor{vm: vm, pub: pub},
		ed25519signature2020.New(suite.WithVerifier(ed25519signature2020.NewPublicKeyVerifier())))
	if err != nil {
		return err
	}
	return v.VerifyObject(m, processor.WithDocumentLoader(loader))
}

// keyFor resolves exactly the one verification method that was authorized.
type keyFor struct {
	vm  string
	pub ed25519.PublicKey
}

func (k keyFor) Resolve(id string) (*verifier.PublicKey, error) {
	if id != k.vm {
		return nil, fmt.Errorf("verification method %.200q is not the authorized %q", id, k.vm)
	}
	return &verifier.PublicKey{Type: "Ed25519VerificationKey2020", Value: k.pub}, nil
}

// errProofValue is wrapped by every DecodeProofValue failure.
var errProofValue = errors.New("invalid base58btc")

// DecodeProofValue decodes a multibase base58btc string ('z' prefix),
// refusing a non-canonical encoding.
func DecodeProofValue(s string) ([]byte, error) {
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
