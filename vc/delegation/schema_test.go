package delegation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"testing"
)

// A JSON Schema checker for exactly the keywords delegation-v1.json uses (a copy of vc/binding's checker)
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

func loadSchema(t *testing.T) any {
	t.Helper()
	s, err := decodeJSON(Schema())
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
		doc, err := decodeJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		verr := validate(schema, doc, "")
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
