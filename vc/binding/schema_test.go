package binding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/vc/internal/strictjson"
)

// A JSON Schema checker for exactly the keywords binding-v1.json uses
// (there is no JSON Schema library among our dependencies): type, required,
// properties, additionalProperties (false or a schema), const, enum,
// pattern, items (false or a schema), minItems, prefixItems, oneOf, and the
// annotations $schema, $id, title, description. Any other keyword makes the
// check fail, so the schema cannot silently grow past what is tested.

var schemaKeywords = []string{"type", "required", "properties", "additionalProperties", "const", "enum",
	"pattern", "items", "minItems", "prefixItems", "oneOf", "$schema", "$id", "title", "description"}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// validate returns the first violation of schema by v at path, or nil.
func validate(schema any, v any, path string) error {
	switch s := schema.(type) {
	case bool:
		if !s {
			return fmt.Errorf("%s: schema false", path)
		}
		return nil
	case map[string]any:
		for k := range s {
			if !slices.Contains(schemaKeywords, k) {
				return fmt.Errorf("%s: keyword %q not supported by the test checker", path, k)
			}
		}
		if t, ok := s["type"]; ok && !hasType(v, t.(string)) {
			return fmt.Errorf("%s: not of type %s", path, t)
		}
		if c, ok := s["const"]; ok && !reflect.DeepEqual(c, v) {
			return fmt.Errorf("%s: not the const %v", path, c)
		}
		if e, ok := s["enum"]; ok && !slices.ContainsFunc(e.([]any), func(x any) bool { return reflect.DeepEqual(x, v) }) {
			return fmt.Errorf("%s: not in enum %v", path, e)
		}
		if p, ok := s["pattern"]; ok {
			if str, isStr := v.(string); isStr && !regexp.MustCompile(p.(string)).MatchString(str) {
				return fmt.Errorf("%s: %q does not match %s", path, str, p)
			}
		}
		if obj, isObj := v.(map[string]any); isObj {
			for _, r := range asList(s["required"]) {
				if _, ok := obj[r.(string)]; !ok {
					return fmt.Errorf("%s: required %s missing", path, r)
				}
			}
			props, _ := s["properties"].(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(obj)) {
				if ps, ok := props[k]; ok {
					if err := validate(ps, obj[k], path+"/"+k); err != nil {
						return err
					}
				} else if ap, ok := s["additionalProperties"]; ok {
					if err := validate(ap, obj[k], path+"/"+k); err != nil {
						return err
					}
				}
			}
		}
		if arr, isArr := v.([]any); isArr {
			if m, ok := s["minItems"]; ok {
				n, _ := m.(json.Number).Int64()
				if int64(len(arr)) < n {
					return fmt.Errorf("%s: %d items, fewer than %d", path, len(arr), n)
				}
			}
			prefix := asList(s["prefixItems"])
			for i, x := range arr {
				var sub any = true
				if i < len(prefix) {
					sub = prefix[i]
				} else if it, ok := s["items"]; ok {
					sub = it
				}
				if err := validate(sub, x, fmt.Sprintf("%s/%d", path, i)); err != nil {
					return err
				}
			}
		}
		if one, ok := s["oneOf"]; ok {
			n := 0
			for _, sub := range one.([]any) {
				if validate(sub, v, path) == nil {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("%s: %d branches of oneOf match, want 1", path, n)
			}
		}
		return nil
	}
	return fmt.Errorf("%s: schema is neither an object nor a boolean", path)
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// hasType follows JSON Schema: "integer" is any number with a zero
// fractional part (1.0 and 1e3 included).
func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		r, ok := new(big.Rat).SetString(n.String())
		return ok && r.IsInt()
	}
	return false
}

func loadSchema(t *testing.T) any {
	t.Helper()
	s, err := decodeJSON(Schema())
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
		s, err := decodeJSON([]byte(c.schema))
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeJSON([]byte(c.value))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(s, v, ""); (err == nil) != c.ok {
			t.Errorf("validate(%s, %s) = %v, want ok=%v", c.schema, c.value, err, c.ok)
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
	v, err := decodeJSON(payload)
	if err != nil {
		return ""
	}
	if err := validate(schema, v, ""); err != nil {
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
