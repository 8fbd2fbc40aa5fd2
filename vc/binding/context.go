package binding

import _ "embed"

// Copies of spec/contexts/binding-v1.jsonld and spec/schemas/binding-v1.json
// (a test keeps them byte for byte equal): go:embed cannot reach outside
// the package directory, and the copies are what lets a JSON-LD processor
// or a schema validator work without fetching anything.
var (
	//go:embed binding-v1.jsonld
	contextV1 []byte
	//go:embed binding-v1.schema.json
	schemaV1 []byte
)

// Context returns the JSON-LD context document of ContextURL. The caller
// gets its own copy.
func Context() []byte { return append([]byte(nil), contextV1...) }

// Schema returns the JSON Schema (draft 2020-12) of the decoded claim set
// of a binding credential. It gets a copy.
func Schema() []byte { return append([]byte(nil), schemaV1...) }
