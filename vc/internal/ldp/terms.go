package ldp

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/piprate/json-gold/ld"
)

// ErrNotJSONObject is LostTerm's error for a document that is not a JSON
// object, and ErrContextNotLoaded for one whose context the loader could
// not give (for a Loader: not embedded). Any other error of LostTerm is a
// JSON-LD processing error of the document.
var (
	ErrNotJSONObject    = errors.New("not a JSON object")
	ErrContextNotLoaded = errors.New("json-ld context not loaded")
)

// LostTerm finds a member of the JSON-LD document raw that no context of
// it defines. JSON-LD processors drop such members silently on expansion,
// so that they would be neither signed nor seen by a JSON-LD verifier:
// the document is expanded and compacted again with its own contexts, and
// the path of the first member lost on the way (in sorted key order, so
// the same for every run) is returned; "" means none was lost.
func LostTerm(raw []byte, loader ld.DocumentLoader) (string, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotJSONObject, err)
	}
	opts := ld.NewJsonLdOptions("")
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.DocumentLoader = loader
	proc := ld.NewJsonLdProcessor()
	expanded, err := proc.Expand(doc, opts)
	if err != nil {
		var le *ld.JsonLdError
		if errors.As(err, &le) && (le.Code == ld.LoadingDocumentFailed || le.Code == ld.LoadingRemoteContextFailed) {
			return "", fmt.Errorf("%w: json-ld expansion: %w", ErrContextNotLoaded, err)
		}
		return "", fmt.Errorf("json-ld expansion: %w", err)
	}
	compacted, err := proc.Compact(expanded, map[string]any{"@context": doc["@context"]}, opts)
	if err != nil {
		return "", fmt.Errorf("json-ld compaction: %w", err)
	}
	if path, ok := sameJSON(doc, compacted, ""); !ok {
		return path, nil
	}
	return "", nil
}

// sameJSON reports the path of the first member of orig that the round
// trip lost (arrays of one compact to their element; values compare
// loosely because compaction may rewrite their form).
func sameJSON(orig, back any, path string) (string, bool) {
	orig, back = unwrapOne(orig), unwrapOne(back)
	switch o := orig.(type) {
	case map[string]any:
		b, ok := back.(map[string]any)
		if !ok {
			// A node with only an id compacts to the id itself where the
			// term is @type: @id (credentialSubject in VC 1.1).
			if id, isStr := back.(string); isStr && len(o) == 1 && o["id"] == id {
				return path, true
			}
			return path, false
		}
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "@context" {
				continue
			}
			bv, ok := b[k]
			if !ok {
				return path + "/" + k, false
			}
			if p, ok := sameJSON(o[k], bv, path+"/"+k); !ok {
				return p, false
			}
		}
		return path, true
	case []any:
		b, ok := back.([]any)
		if !ok || len(b) != len(o) {
			return path, false
		}
		for i := range o {
			if p, ok := sameJSON(o[i], b[i], fmt.Sprintf("%s/%d", path, i)); !ok {
				return p, false
			}
		}
		return path, true
	default:
		if reflect.DeepEqual(orig, back) {
			return path, true
		}
		// A typed literal may come back as a value object or another
		// representation of the same value; what matters here is that it
		// came back at all.
		return path, back != nil
	}
}

func unwrapOne(v any) any {
	if a, ok := v.([]any); ok && len(a) == 1 {
		return a[0]
	}
	return v
}
