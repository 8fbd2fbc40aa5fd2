// Package schematest is a JSON Schema checker for the tests of vc/binding
// and vc/delegation, for exactly the keywords their schemas use (there is
// no JSON Schema library among the module's dependencies). It is test
// support only: no production code imports it.
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"regexp"
	"slices"
)

// A JSON Schema checker for exactly the keywords the schemas of vc/binding and vc/delegation use
// (there is no JSON Schema library among our dependencies): type, required,
// properties, additionalProperties (false or a schema), const, enum,
// pattern, items (false or a schema), minItems, prefixItems, oneOf, and the
// annotations $schema, $id, title, description. Any other keyword makes the
// check fail, so the schema cannot silently grow past what is tested.

// Keywords are the keywords Validate knows, annotations included.
var Keywords = []string{"type", "required", "properties", "additionalProperties", "const", "enum",
	"pattern", "items", "minItems", "prefixItems", "oneOf", "$schema", "$id", "title", "description"}

// DecodeJSON decodes data with numbers kept exact (json.Number).
func DecodeJSON(data []byte) (any, error) {
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

// Validate returns the first violation of schema by v at path, or nil.
func Validate(schema any, v any, path string) error {
	switch s := schema.(type) {
	case bool:
		if !s {
			return fmt.Errorf("%s: schema false", path)
		}
		return nil
	case map[string]any:
		for k := range s {
			if !slices.Contains(Keywords, k) {
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
					if err := Validate(ps, obj[k], path+"/"+k); err != nil {
						return err
					}
				} else if ap, ok := s["additionalProperties"]; ok {
					if err := Validate(ap, obj[k], path+"/"+k); err != nil {
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
				if err := Validate(sub, x, fmt.Sprintf("%s/%d", path, i)); err != nil {
					return err
				}
			}
		}
		if one, ok := s["oneOf"]; ok {
			n := 0
			for _, sub := range one.([]any) {
				if Validate(sub, v, path) == nil {
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
