package delegation

import (
	"encoding/json"
	"github.com/clawnet/ledger/vc/internal/schematest"
	"os"
	"path/filepath"
	"testing"
)

func TestSchemaChecker(t *testing.T) {
	for _, c := range []struct {
		schema, value string
		ok            bool
	}{
		{`{"type":"integer"}`, `1`, true},
		{`{"type":"integer"}`, `1.0`, true},
		{`{"type":"integer"}`, `1.5`, false},
		{`{"type":"integer"}`, `"1"`, false},
		{`{"type":"string","pattern":"^a+$"}`, `"aa"`, true},
		{`{"type":"string","pattern":"^a+$"}`, `"ab"`, false},
		{`{"required":["a"]}`, `{"b":1}`, false},
		{`{"properties":{"a":{"const":1}},"additionalProperties":false}`, `{"a":1}`, true},
		{`{"properties":{"a":{"const":1}},"additionalProperties":false}`, `{"a":2}`, false},
		{`{"properties":{"a":{"const":1}},"additionalProperties":false}`, `{"a":1,"b":1}`, false},
		{`{"enum":["x","y"]}`, `"y"`, true},
		{`{"enum":["x","y"]}`, `"z"`, false},
		{`{"minItems":2,"prefixItems":[{"const":"a"},{"const":"b"}],"items":false}`, `["a","b"]`, true},
		{`{"minItems":2,"prefixItems":[{"const":"a"},{"const":"b"}],"items":false}`, `["a"]`, false},
		{`{"minItems":2,"prefixItems":[{"const":"a"},{"const":"b"}],"items":false}`, `["b","a"]`, false},
		{`{"minItems":2,"prefixItems":[{"const":"a"},{"const":"b"}],"items":false}`, `["a","b","c"]`, false},
		{`{"oneOf":[{"const":1},{"type":"integer"}]}`, `2`, true},
		{`{"oneOf":[{"const":1},{"type":"integer"}]}`, `1`, false},
		{`{"oneOf":[{"const":1},{"type":"integer"}]}`, `"x"`, false},
		{`{"minimum":1}`, `2`, false}, // unsupported keyword: refused
	} {
		s, err := schematest.DecodeJSON([]byte(c.schema))
		if err != nil {
			t.Fatal(err)
		}
		v, err := schematest.DecodeJSON([]byte(c.value))
		if err != nil {
			t.Fatal(err)
		}
		if err := schematest.Validate(s, v, ""); (err == nil) != c.ok {
			t.Errorf("schematest.Validate(%s, %s) = %v, want ok=%v", c.schema, c.value, err, c.ok)
		}
	}
}

func loadSchema(t *testing.T) any {
	t.Helper()
	s, err := schematest.DecodeJSON(Schema())
	if err != nil {
		t.Fatalf("Schema(): %v", err)
	}
	return s
}

// Every Data Integrity vector that fails only for a reason the schema can
// express is invalid against it; every good one and every one refused for
// a reason beyond structure (signature, key, time) is valid.
func TestSchemaVectors(t *testing.T) {
	schema := loadSchema(t)
	data, err := os.ReadFile(filepath.Join(vectorDir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	structural := map[Code]bool{CodeMalformed: true, CodeContextNotAllowed: true, CodeUndefinedTerm: true,
		CodeStatusInvalid: true, CodeAlgNotAllowed: true, CodeFormatUnknown: true}
	n := 0
	for _, v := range m.Vectors {
		if v.Format != FormatLDP {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(vectorDir, v.File))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := schematest.DecodeJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		verr := schematest.Validate(schema, doc, "")
		switch {
		case structural[v.Code] && verr == nil:
			t.Errorf("%s (%s) is valid against the schema", v.File, v.Code)
		case !structural[v.Code] && v.Code != CodeScopesInvalid && verr != nil:
			t.Errorf("%s: %v", v.File, verr)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d Data Integrity vectors", n)
	}
}
