package delegation

import (
	"bytes"
	_ "embed"
	"sync"

	"github.com/clawnet/ledger/vc/internal/ldp"
)

// The JSON-LD contexts a delegation credential may use, embedded so that
// nothing is ever fetched. delegation-v1.jsonld is a copy of
// spec/contexts/delegation-v1.jsonld and delegation-v1.schema.json of
// spec/schemas/delegation-v1.json (a test keeps them byte for byte equal:
// go:embed cannot reach outside the package directory). The other three are
// the published contexts, as distributed by the W3C CCG / Digital Bazaar npm
// packages credentials-context, ed25519-signature-2020-context and
// @digitalbazaar/vc-bitstring-status-list-context.
var (
	//go:embed delegation-v1.jsonld
	contextDelegationV1 []byte
	//go:embed credentials-v1.jsonld
	contextCredentialsV1 []byte
	//go:embed ed25519-signature-2020-v1.jsonld
	contextEd25519V1 []byte
	//go:embed status-v1.jsonld
	contextStatusV1 []byte
	//go:embed delegation-v1.schema.json
	schemaV1 []byte
)

// Context returns the JSON-LD context document of ContextURL. The caller
// gets its own copy.
func Context() []byte { return bytes.Clone(contextDelegationV1) }

// Schema returns the JSON Schema (draft 2020-12) of the credential JSON of
// the Data Integrity format (and of the "vc" claim of the VC-JWT format,
// with the members VC-JWT moves to registered claims). The caller gets a
// copy.
func Schema() []byte { return bytes.Clone(schemaV1) }

// EmbeddedContexts returns every context URL Verify accepts, with its
// document: the complete list of what the document loader can load.
func EmbeddedContexts() map[string][]byte {
	return map[string][]byte{
		CredentialsContextURL: bytes.Clone(contextCredentialsV1),
		ContextURL:            bytes.Clone(contextDelegationV1),
		StatusContextURL:      bytes.Clone(contextStatusV1),
		Ed25519ContextURL:     bytes.Clone(contextEd25519V1),
	}
}

// ErrContextNotEmbedded is the document loader's answer for any URL that
// is not an embedded context: it never goes to the network.
var ErrContextNotEmbedded = ldp.ErrContextNotEmbedded

var (
	loaderOnce sync.Once
	loaderVal  *ldp.Loader
	loaderErr  error
)

// defaultLoader returns the process-wide embedded loader.
func defaultLoader() (*ldp.Loader, error) {
	loaderOnce.Do(func() {
		loaderVal, loaderErr = ldp.NewLoader(EmbeddedContexts())
	})
	return loaderVal, loaderErr
}
