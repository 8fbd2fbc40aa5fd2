package binding

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/vc/internal/schematest"
	"github.com/clawnet/ledger/vc/internal/strictjson"
)

func loadSchema(t *testing.T) any {
	t.Helper()
	s, err := schematest.DecodeJSON(Schema())
	if err != nil {
		t.Fatalf("Schema(): %v", err)
	}
	return s
}

// The checker itself must find violations, or every "invalid" below would
// prove nothing.
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

// schemaVerdict is what vectors.json's claims_schema must say about a
// token: "" when its payload is not one JSON object with unique member
// names in valid UTF-8.
func schemaVerdict(t *testing.T, schema any, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		t.Fatalf("token has %d parts", len(parts))
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	if !utf8.Valid(payload) {
		return ""
	}
	if _, err := strictjson.Parse(payload); err != nil {
		return ""
	}
	v, err := schematest.DecodeJSON(payload)
	if err != nil {
		return ""
	}
	if err := schematest.Validate(schema, v, ""); err != nil {
		t.Logf("schema: %v", err)
		return "invalid"
	}
	return "valid"
}

func TestSchemaVectors(t *testing.T) {
	schema := loadSchema(t)
	mf, _ := generateVectors(t)
	for _, v := range mf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if got := schemaVerdict(t, schema, v.token); got != v.ClaimsSchema {
				t.Errorf("claims schema verdict %q, vectors.json says %q", got, v.ClaimsSchema)
			}
			if v.Code == "" && v.ClaimsSchema != "valid" {
				t.Errorf("a good vector whose claims are not schema-valid")
			}
			// A refusal for the claims' shape or the role rules is one the
			// schema sees; only refusals the schema cannot express (header,
			// signature, key, dates, DID syntax) may be schema-valid.
			if v.ClaimsSchema == "valid" && (v.Code == CodeRoleInvalid || v.Code == CodeContextInvalid) {
				t.Errorf("%s refusal, but the claims satisfy the schema", v.Code)
			}
		})
	}
}

// Whatever Issue makes satisfies the schema.
func TestSchemaIssued(t *testing.T) {
	schema := loadSchema(t)
	priv, owner, kid := keyDID(seedOwner)
	_, agent, _ := keyDID(seedAgent)
	for i, b := range []Binding{
		{Role: RoleManager},
		{Role: RoleIdentity, Context: "w"},
		{Role: RoleIdentity, Context: "work-2", Expires: time.Unix(4102444800, 0)},
	} {
		b.ID, b.Issuer, b.Subject, b.IssuedAt = fixedID(t, byte(i)), owner, agent, time.Unix(1767225600, 0)
		tok, err := Issue(priv, kid, b)
		if err != nil {
			t.Fatal(err)
		}
		if got := schemaVerdict(t, schema, tok); got != "valid" {
			t.Errorf("%+v: claims schema %s", b, got)
		}
	}
}

// The embedded copies are the spec's files, byte for byte.
func TestEmbeddedCopies(t *testing.T) {
	for _, c := range []struct {
		spec string
		got  []byte
	}{
		{"../../spec/contexts/binding-v1.jsonld", Context()},
		{"../../spec/schemas/binding-v1.json", Schema()},
	} {
		want, err := os.ReadFile(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.got, want) {
			t.Errorf("the embedded copy of %s differs from it (copy the file into vc/binding)", c.spec)
		}
	}
	// Callers get copies: changing one does not change the next.
	c := Context()
	c[0] ^= 0xff
	if bytes.Equal(c, Context()) {
		t.Errorf("Context() returned the embedded slice itself")
	}
}

// The context defines, as protected terms with absolute IRIs, every term
// a binding credential uses beyond the VC 1.1 base context, and nothing else.
func TestContextTerms(t *testing.T) {
	var doc struct {
		Context map[string]json.RawMessage `json:"@context"`
	}
	if err := json.Unmarshal(Context(), &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc.Context["@protected"]) != "true" || string(doc.Context["@version"]) != "1.1" {
		t.Errorf("@protected %s, @version %s; want true and 1.1", doc.Context["@protected"], doc.Context["@version"])
	}
	want := map[string]string{
		Type:      "https://w3id.org/clawnet/binding#AgentBindingCredential",
		"role":    "https://w3id.org/clawnet/binding#role",
		"context": "https://w3id.org/clawnet/binding#agentContext",
	}
	for term, iri := range want {
		var def struct {
			ID string `json:"@id"`
		}
		if err := json.Unmarshal(doc.Context[term], &def); err != nil || def.ID != iri {
			t.Errorf("term %s: %s, want @id %s", term, doc.Context[term], iri)
		}
	}
	for term := range doc.Context {
		if _, ok := want[term]; !ok && !strings.HasPrefix(term, "@") {
			t.Errorf("term %s is defined but not used by the credential", term)
		}
	}
}
