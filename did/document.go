package did

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// ErrInvalidDocument is wrapped by every refusal of ParseDocument.
var ErrInvalidDocument = errors.New("invalid did document")

// maxDocumentSize bounds the documents ParseDocument reads; a DID document
// with a handful of keys is a few kilobytes.
const maxDocumentSize = 256 << 10

// Verification relationships (DID Core §5.3) that VerificationKey knows.
const (
	Authentication       = "authentication"
	AssertionMethod      = "assertionMethod"
	CapabilityDelegation = "capabilityDelegation"
	CapabilityInvocation = "capabilityInvocation"
)

// Document is a DID document (DID Core §5) restricted to the properties this
// service acts on. The verification relationships hold references (DID URLs)
// to entries of VerificationMethod; DID Core also allows embedding a method
// in a relationship, which ParseDocument refuses for now: one place per key
// keeps "which relationships does this key have" a simple lookup.
type Document struct {
	// Context is "@context". In the JSON-LD representation its first entry
	// is ContextDIDv1; only string entries are accepted (no inline contexts,
	// which would need a JSON-LD processor to interpret).
	Context []string
	// ID is the DID the document is about.
	ID string
	// Controller is "controller": one DID or a set; empty if absent.
	Controller []string
	// VerificationMethod is "verificationMethod".
	VerificationMethod []VerificationMethod
	// The verification relationships, as DID URLs (absolute, or relative
	// "#fragment" references to ID).
	Authentication       []string
	AssertionMethod      []string
	CapabilityDelegation []string
	CapabilityInvocation []string
	// Extensions holds every other top-level member, verbatim, by name
	// (service, alsoKnownAs, keyAgreement, method-specific properties).
	// DID Core allows such members, so they are kept rather than refused, but
	// nothing in this package interprets them.
	Extensions map[string]json.RawMessage
}

// VerificationMethod is an entry of "verificationMethod" (DID Core §5.2).
type VerificationMethod struct {
	ID         string
	Type       string
	Controller string
	// PublicKeyMultibase is "publicKeyMultibase" (for
	// Ed25519VerificationKey2020 and Multikey: "z" + base58btc of the
	// multicodec-prefixed key).
	PublicKeyMultibase string
	// PublicKeyJwk is "publicKeyJwk", a public JWK (RFC 7517).
	PublicKeyJwk *JWK
	// Extensions holds other members (such as publicKeyBase58 of older
	// key types) verbatim; they are never used to find a key.
	Extensions map[string]json.RawMessage
}

// JWK is a public JSON Web Key. Only the members of an OKP public key and
// the common optional ones are accepted: a JWK carrying private key
// material ("d", ...) is refused, as it has no place in a DID document.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name  string
	value json.RawMessage
}

// objectMembers splits a JSON object into its members, refusing anything
// that is not exactly one object, and duplicate names (which
// encoding/json would silently resolve to the last one).
func objectMembers(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var ms []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, fmt.Errorf("duplicate member %q", name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		ms = append(ms, member{name, v})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return ms, nil
}

// stringOrSet decodes a JSON string or array of strings.
func stringOrSet(v json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return []string{s}, nil
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		return nil, errors.New("want a string or an array of strings")
	}
	return ss, nil
}

// ParseDocument parses and checks a DID document in its JSON (or JSON-LD)
// representation. See the package documentation for what it refuses.
func ParseDocument(data []byte) (*Document, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	return doc, nil
}

func parseDocument(data []byte) (*Document, error) {
	if len(data) > maxDocumentSize {
		return nil, fmt.Errorf("larger than %d bytes", maxDocumentSize)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("not UTF-8")
	}
	ms, err := objectMembers(data)
	if err != nil {
		return nil, err
	}
	doc := &Document{}
	hasID := false
	for _, m := range ms {
		var err error
		switch m.name {
		case "@context":
			doc.Context, err = stringOrSet(m.value)
			if err == nil && (len(doc.Context) == 0 || doc.Context[0] != ContextDIDv1) {
				err = fmt.Errorf("first entry must be %q", ContextDIDv1)
			}
		case "id":
			hasID = true
			err = json.Unmarshal(m.value, &doc.ID)
			if err == nil {
				_, err = ParseDID(doc.ID)
			}
		case "controller":
			doc.Controller, err = stringOrSet(m.value)
			for _, c := range doc.Controller {
				if err == nil {
					_, err = ParseDID(c)
				}
			}
		case "verificationMethod":
			var raws []json.RawMessage
			if err = json.Unmarshal(m.value, &raws); err == nil {
				for i, r := range raws {
					vm, verr := parseVerificationMethod(r)
					if verr != nil {
						err = fmt.Errorf("[%d]: %w", i, verr)
						break
					}
					doc.VerificationMethod = append(doc.VerificationMethod, vm)
				}
			}
		case Authentication:
			doc.Authentication, err = parseRelationship(m.value)
		case AssertionMethod:
			doc.AssertionMethod, err = parseRelationship(m.value)
		case CapabilityDelegation:
			doc.CapabilityDelegation, err = parseRelationship(m.value)
		case CapabilityInvocation:
			doc.CapabilityInvocation, err = parseRelationship(m.value)
		default:
			if doc.Extensions == nil {
				doc.Extensions = map[string]json.RawMessage{}
			}
			doc.Extensions[m.name] = m.value
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	if !hasID {
		return nil, errors.New("no id")
	}
	seen := map[string]bool{}
	for _, vm := range doc.VerificationMethod {
		id := absolute(doc.ID, vm.ID)
		if seen[id] {
			return nil, fmt.Errorf("verificationMethod: duplicate id %q", id)
		}
		seen[id] = true
	}
	return doc, nil
}

// parseRelationship parses a verification relationship: an array of DID URL
// references. Embedded methods (objects) are refused, see Document.
func parseRelationship(v json.RawMessage) ([]string, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		return nil, errors.New("want an array")
	}
	refs := make([]string, 0, len(raws))
	for i, r := range raws {
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, fmt.Errorf("[%d]: embedded verification methods are not supported; reference one from verificationMethod", i)
		}
		if err := checkReference(s); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		refs = append(refs, s)
	}
	return refs, nil
}

// checkReference accepts a DID URL with a fragment, or a relative
// "#fragment" reference.
func checkReference(s string) error {
	if frag, ok := strings.CutPrefix(s, "#"); ok {
		if frag == "" {
			return fmt.Errorf("%w: empty fragment reference", ErrInvalidDID)
		}
		if err := checkChars(frag, "/?"); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrInvalidDID, s, err)
		}
		return nil
	}
	u, err := ParseDIDURL(s)
	if err != nil {
		return err
	}
	if u.Fragment == "" {
		return fmt.Errorf("%w: %q has no fragment", ErrInvalidDID, s)
	}
	return nil
}

// absolute resolves a relative "#fragment" reference against the DID.
func absolute(did, ref string) string {
	if strings.HasPrefix(ref, "#") {
		return did + ref
	}
	return ref
}

func parseVerificationMethod(data json.RawMessage) (VerificationMethod, error) {
	ms, err := objectMembers(data)
	if err != nil {
		return VerificationMethod{}, err
	}
	var vm VerificationMethod
	for _, m := range ms {
		var err error
		switch m.name {
		case "id":
			if err = json.Unmarshal(m.value, &vm.ID); err == nil {
				err = checkReference(vm.ID)
			}
		case "type":
			err = json.Unmarshal(m.value, &vm.Type)
		case "controller":
			if err = json.Unmarshal(m.value, &vm.Controller); err == nil {
				_, err = ParseDID(vm.Controller)
			}
		case "publicKeyMultibase":
			err = json.Unmarshal(m.value, &vm.PublicKeyMultibase)
		case "publicKeyJwk":
			vm.PublicKeyJwk, err = parseJWK(m.value)
		default:
			if vm.Extensions == nil {
				vm.Extensions = map[string]json.RawMessage{}
			}
			vm.Extensions[m.name] = m.value
		}
		if err != nil {
			return VerificationMethod{}, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	switch {
	case vm.ID == "":
		return VerificationMethod{}, errors.New("no id")
	case vm.Type == "":
		return VerificationMethod{}, errors.New("no type")
	case vm.Controller == "":
		return VerificationMethod{}, errors.New("no controller")
	}
	return vm, nil
}

// privateJWKMembers are the JWK members of private or symmetric keys
// (RFC 7518 §6).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func parseJWK(data json.RawMessage) (*JWK, error) {
	ms, err := objectMembers(data)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		for _, p := range privateJWKMembers {
			if m.name == p {
				return nil, fmt.Errorf("private key material (%q) in a public JWK", p)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var k JWK
	if err := dec.Decode(&k); err != nil {
		return nil, err
	}
	if k.Kty == "" {
		return nil, errors.New("no kty")
	}
	return &k, nil
}

// MarshalJSON writes the document in the DID Core JSON-LD representation:
// known members in the order of the did:key specification's examples, then
// extensions sorted by name. "controller" is a string when there is one.
func (d *Document) MarshalJSON() ([]byte, error) {
	var ms []member
	add := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", name, err)
		}
		ms = append(ms, member{name, b})
		return nil
	}
	var err error
	if len(d.Context) > 0 {
		err = errors.Join(err, add("@context", d.Context))
	}
	err = errors.Join(err, add("id", d.ID))
	switch len(d.Controller) {
	case 0:
	case 1:
		err = errors.Join(err, add("controller", d.Controller[0]))
	default:
		err = errors.Join(err, add("controller", d.Controller))
	}
	if len(d.VerificationMethod) > 0 {
		err = errors.Join(err, add("verificationMethod", d.VerificationMethod))
	}
	for _, r := range []struct {
		name string
		refs []string
	}{
		{Authentication, d.Authentication},
		{AssertionMethod, d.AssertionMethod},
		{CapabilityDelegation, d.CapabilityDelegation},
		{CapabilityInvocation, d.CapabilityInvocation},
	} {
		if len(r.refs) > 0 {
			err = errors.Join(err, add(r.name, r.refs))
		}
	}
	if err != nil {
		return nil, err
	}
	return writeObject(ms, d.Extensions)
}

// MarshalJSON writes the method's members then its extensions, sorted.
func (vm VerificationMethod) MarshalJSON() ([]byte, error) {
	var ms []member
	for _, f := range []struct {
		name string
		v    any
		skip bool
	}{
		{"id", vm.ID, false},
		{"type", vm.Type, false},
		{"controller", vm.Controller, false},
		{"publicKeyMultibase", vm.PublicKeyMultibase, vm.PublicKeyMultibase == ""},
		{"publicKeyJwk", vm.PublicKeyJwk, vm.PublicKeyJwk == nil},
	} {
		if f.skip {
			continue
		}
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", f.name, err)
		}
		ms = append(ms, member{f.name, b})
	}
	return writeObject(ms, vm.Extensions)
}

// writeObject writes members, then extensions sorted by name, skipping
// extensions that would shadow a member.
func writeObject(ms []member, ext map[string]json.RawMessage) ([]byte, error) {
	known := map[string]bool{}
	for _, m := range ms {
		known[m.name] = true
	}
	names := make([]string, 0, len(ext))
	for n := range ext {
		if !known[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		ms = append(ms, member{n, ext[n]})
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(m.name)
		b.Write(name)
		b.WriteByte(':')
		if err := json.Compact(&b, m.value); err != nil {
			return nil, fmt.Errorf("member %q: %w", m.name, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
