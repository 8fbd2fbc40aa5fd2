package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/web"
)

// The DID resolution endpoint follows the HTTP(S) binding of W3C DID
// Resolution as the DIF Universal Resolver serves it:
// GET /1.0/identifiers/{did}, with the representation chosen by Accept.
// It is the one endpoint whose errors are not ErrorBody: a resolver client
// expects a DID resolution result carrying didResolutionMetadata.error, so
// every error this handler picks is written as one (content type
// application/did-resolution). Only the method check (405) and panics,
// which the shared machinery answers, use ErrorBody.
//
// The one resolution option is versionId, as the query
// "?versionId=<id>" (DID Resolution HTTP(S) binding: options are query
// parameters). Any other query is a DID URL, which is dereferenced, not
// resolved: invalidDid.

// identifiersPrefix is the path prefix of the endpoint. routes() sends
// every path under it here, bypassing the mux, so that a DID URL with a
// path ("did:key:z…/x", raw or with "/" percent-encoded) reaches the
// resolver and is refused as invalidDid instead of a generic 404, and so
// that the mux does not redirect unclean paths.
const identifiersPrefix = "/1.0/identifiers/"

// immutableCache is Cache-Control for documents that can never change
// (did:key: the document is a function of the DID).
var immutableCache = []string{"public, max-age=31536000, immutable"}

// resolutionStatus maps didResolutionMetadata.error to its HTTP status
// (DID Resolution HTTP(S) binding). invalidDidDocument is only ever the
// fault of a remote did:web host, never of the client nor ours: the
// binding gives it no status of its own, so it is 502 Bad Gateway.
var resolutionStatus = map[string]int{
	did.ErrorInvalidDID:                 http.StatusBadRequest,
	did.ErrorNotFound:                   http.StatusNotFound,
	did.ErrorRepresentationNotSupported: http.StatusNotAcceptable,
	did.ErrorDeactivated:                http.StatusGone,
	did.ErrorMethodNotSupported:         http.StatusNotImplemented,
	did.ErrorInternal:                   http.StatusInternalServerError,
	did.ErrorInvalidDIDDocument:         http.StatusBadGateway,
}

// detailStatus overrides resolutionStatus for internalError failures that
// are a remote did:web host's doing (or a policy refusal to contact it),
// not ours: 500 is kept for this server's own faults. The binding is
// silent on upstream failures; 502 and 504 are HTTP's.
var detailStatus = map[string]int{
	web.DetailHTTPStatus:       http.StatusBadGateway,
	web.DetailRedirectRefused:  http.StatusBadGateway,
	web.DetailRedirectLoop:     http.StatusBadGateway,
	web.DetailTooManyRedirects: http.StatusBadGateway,
	web.DetailPrivateAddress:   http.StatusBadGateway,
	web.DetailFetchFailed:      http.StatusBadGateway,
	web.DetailCanceled:         http.StatusBadGateway,
	web.DetailTimeout:          http.StatusGatewayTimeout,
}

// resolutionErrorCodes lists the codes the endpoint can answer with;
// spec/openapi.yaml documents each.
var resolutionErrorCodes = []string{
	did.ErrorInvalidDID, did.ErrorNotFound, did.ErrorRepresentationNotSupported,
	did.ErrorDeactivated, did.ErrorMethodNotSupported, did.ErrorInternal,
	did.ErrorInvalidDIDDocument,
}

// resolutionDetails lists the clawnetError detail codes the endpoint can
// answer with; spec/openapi.yaml documents each.
var resolutionDetails = []string{
	did.DetailWebInvalid, did.DetailWebNoVersions, web.DetailNotFound, web.DetailHTTPStatus,
	web.DetailRedirectRefused, web.DetailRedirectLoop, web.DetailTooManyRedirects,
	web.DetailPrivateAddress, web.DetailTimeout, web.DetailCanceled, web.DetailFetchFailed,
	web.DetailTooLarge, web.DetailTooDeep, web.DetailInvalidDocument, web.DetailIDMismatch,
	web.DetailExternalReference, web.DetailUnknownReference,
}

// resolveDID serves GET (and HEAD) /1.0/identifiers/{did}. The DID is the
// rest of the path, percent-decoded once (net/http's URL.Path).
func (s *Server) resolveDID(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed([]string{"GET"})(w, r)
	}
	w.Header().Set("Vary", "Accept")
	ct, ok := negotiateDID(r.Header.Values("Accept"))
	if !ok {
		s.writeResolutionError(w, r, &did.ResolutionError{Code: did.ErrorRepresentationNotSupported,
			Message: "supported representations: " + did.MediaTypeDIDLDJSON + ", " + did.MediaTypeDIDJSON + ", " +
				did.MediaTypeDIDResolution + ", " + resolutionLDJSON})
		return nil
	}
	opts, ok := resolutionOptions(r.URL)
	if !ok {
		// Any other query would be part of a DID URL, which is
		// dereferenced, not resolved.
		s.writeResolutionError(w, r, &did.ResolutionError{Code: did.ErrorInvalidDID,
			Message: "a DID URL with a query is not a DID; only bare DIDs are resolved, with the one option ?versionId=<id>"})
		return nil
	}
	id := strings.TrimPrefix(r.URL.Path, identifiersPrefix)
	plain := opts == (did.ResolveOptions{})
	if plain {
		if body := s.answers.get(ct, id); body != nil {
			w.Header()["Cache-Control"] = immutableCache
			writeResolution(w, http.StatusOK, ct, body)
			return nil
		}
	}
	res, err := s.resolver.ResolveWithOptions(r.Context(), id, opts)
	if err != nil {
		var re *did.ResolutionError
		if !errors.As(err, &re) {
			re = &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error", Err: err}
		}
		s.writeResolutionError(w, r, re)
		return nil
	}
	// A hosted DID's current version never changes under its versionId
	// (a change makes a new version; a deactivated DID is an error): its
	// encoded answer is kept per version, which skips the encoding, most
	// of the cost of a resolution.
	var versionKey string
	if plain && s.resolver.HostedHost != "" && res.DocumentMetadata.VersionID != "" &&
		strings.HasPrefix(id, "did:web:"+s.resolver.HostedHost+":") {
		versionKey = id + "\x00" + res.DocumentMetadata.VersionID
		if body := s.answers.get(ct, versionKey); body != nil {
			w.Header()["Cache-Control"] = resultCacheControl(res)
			writeResolution(w, http.StatusOK, ct, body)
			return nil
		}
	}
	var body []byte
	switch ct {
	case did.MediaTypeDIDResolution, resolutionLDJSON:
		body, err = json.Marshal(res)
	default:
		body, err = did.MarshalDocument(res.Document, ct)
	}
	if err != nil {
		s.writeResolutionError(w, r, &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error",
			Err: fmt.Errorf("encode resolution of %.64q: %w", id, err)})
		return nil
	}
	switch {
	case plain && res.Immutable:
		s.answers.put(ct, id, body)
	case versionKey != "":
		s.answers.put(ct, versionKey, body)
	}
	w.Header()["Cache-Control"] = resultCacheControl(res)
	writeResolution(w, http.StatusOK, ct, body)
	return nil
}

// answerCache keeps the encoded answers of resolutions that can never
// change, per representation: did:key (the document is a function of the
// DID), and a hosted did:web's version (keyed by DID and versionId). Encoding the result is most of the cost of a did:key
// resolution over HTTP (spec/benchmarks.md), so a hit skips resolving and
// encoding both. Bounded: when full it starts over, which keeps it simple
// and bounded (maxAnswers × about 1.2 KB) at the price of re-encoding the
// working set once.
type answerCache struct {
	mu sync.RWMutex
	m  map[string][]byte // content type + "\x00" + DID → body; never modified once stored
}

const maxAnswers = 10_000

func (c *answerCache) get(ct, id string) []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[ct+"\x00"+id]
}

func (c *answerCache) put(ct, id string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxAnswers {
		c.m = make(map[string][]byte, 1024)
	}
	c.m[ct+"\x00"+id] = body
}

// resultCacheControl says how long a successful result may be reused:
// forever when Immutable (did:key), for its TTL (remote did:web, the TTL
// left in the resolver's cache), and otherwise only after asking again
// (hosted did:web, which can change at any log entry).
func resultCacheControl(res *did.Result) []string {
	switch secs := int64(res.TTL / time.Second); {
	case res.Immutable:
		return immutableCache
	case secs > 0:
		return []string{"public, max-age=" + strconv.FormatInt(secs, 10)}
	default:
		return []string{"no-cache"}
	}
}

// resolutionOptions returns the resolution options of the request's query:
// none, or exactly one non-empty versionId. ok is false for any other
// query (including an empty "?", a repeated or empty versionId, another
// parameter, or a malformed escape).
func resolutionOptions(u *url.URL) (o did.ResolveOptions, ok bool) {
	if u.RawQuery == "" {
		return o, !u.ForceQuery
	}
	raw, found := strings.CutPrefix(u.RawQuery, "versionId=")
	if !found || strings.ContainsAny(raw, "&;=") {
		return o, false
	}
	v, err := url.QueryUnescape(raw)
	if err != nil || v == "" {
		return o, false
	}
	o.VersionID = v
	return o, true
}

// writeResolutionError writes the resolution result carrying re: its code,
// message, detail and document metadata (a deactivated DID has some). The
// cause, re.Err, is logged and never sent. Error results are not cached as
// they are: a DID not found now may be created the next minute.
func (s *Server) writeResolutionError(w http.ResponseWriter, r *http.Request, re *did.ResolutionError) {
	status, ok := resolutionStatus[re.Code]
	if !ok {
		re = &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error",
			Err: errors.Join(re.Err, fmt.Errorf("resolver returned unknown error code %q", re.Code))}
		status = http.StatusInternalServerError
	}
	if ds, ok := detailStatus[re.Detail]; ok && re.Code == did.ErrorInternal {
		status = ds
	}
	switch {
	case status == http.StatusInternalServerError:
		s.logger.Error("did resolution failed", "method", r.Method, "path", r.URL.Path,
			"status", status, "code", re.Code, "err", re.Err)
		w.Header().Set("Cache-Control", "no-store")
	case status >= 500 && status != http.StatusNotImplemented:
		// A remote host's fault: worth a look, not an alarm.
		s.logger.Debug("did resolution: remote did:web failed", "path", r.URL.Path,
			"status", status, "code", re.Code, "detail", re.Detail, "err", re.Err)
		w.Header().Set("Cache-Control", "no-store")
	default:
		w.Header().Set("Cache-Control", "no-cache")
	}
	body, err := json.Marshal(re.Result())
	if err != nil {
		panic(fmt.Sprintf("server: encode resolution error: %v", err))
	}
	writeResolution(w, status, did.MediaTypeDIDResolution, body)
}

func writeResolution(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	// Two writes, never append(body, '\n'): body may be a cached answer
	// shared by concurrent requests, and append would write into its
	// spare capacity.
	_, _ = w.Write(body)
	_, _ = w.Write(newline)
}

var newline = []byte{'\n'}

// resolutionLDJSON is the JSON-LD media type with the DID resolution
// profile, the second name of a resolution result.
const resolutionLDJSON = `application/ld+json;profile="` + did.ProfileDIDResolution + `"`

// didOffer is a representation the endpoint can return.
type didOffer struct {
	mediaType   string // type/subtype, lowercase
	profile     string // required profile parameter, or ""
	contentType string // the Content-Type sent
}

// didOffers in order of preference: on a tie in q the first wins, so the
// default (Accept absent or */*) is the JSON-LD document, as in the DIF
// Universal Resolver.
var didOffers = []didOffer{
	{did.MediaTypeDIDLDJSON, "", did.MediaTypeDIDLDJSON},
	{did.MediaTypeDIDJSON, "", did.MediaTypeDIDJSON},
	{did.MediaTypeDIDResolution, "", did.MediaTypeDIDResolution},
	{"application/ld+json", did.ProfileDIDResolution, resolutionLDJSON},
}

// mediaRange is one parsed element of an Accept header (RFC 9110 §12.5.1).
type mediaRange struct {
	typ, subtype string
	profiles     []string // the profile parameter's space-separated URIs
	q            int      // quality in thousandths, 0 to 1000
}

// negotiateDID picks the content type of the response from the Accept
// header values (RFC 9110 §12.5.1): each offer gets the q of the most
// specific range that matches it, and the offer with the highest q > 0
// wins. An absent or empty header means the default. ok is false when
// nothing acceptable is offered. Malformed ranges are ignored.
func negotiateDID(accept []string) (contentType string, ok bool) {
	header := strings.TrimSpace(strings.Join(accept, ","))
	if header == "" {
		return didOffers[0].contentType, true
	}
	var ranges []mediaRange
	for _, el := range splitQuoted(header, ',') {
		if mr, ok := parseMediaRange(el); ok {
			ranges = append(ranges, mr)
		}
	}
	best, bestQ := -1, 0
	for i, o := range didOffers {
		q, spec := 0, -1
		for _, mr := range ranges {
			if s := mr.matches(o); s > spec {
				q, spec = mr.q, s
			}
		}
		if q > bestQ {
			best, bestQ = i, q
		}
	}
	if best < 0 {
		return "", false
	}
	return didOffers[best].contentType, true
}

// matches returns the specificity with which mr matches o (higher is more
// specific), or -1. An offer with a profile is matched only by a range
// naming that profile, so "application/ld+json" alone is not a
// resolution result.
func (mr mediaRange) matches(o didOffer) int {
	otyp, osub, _ := strings.Cut(o.mediaType, "/")
	spec := 0
	switch {
	case mr.typ == "*" && mr.subtype == "*":
	case mr.typ == otyp && mr.subtype == "*":
		spec = 1
	case mr.typ == otyp && mr.subtype == osub:
		spec = 2
	default:
		return -1
	}
	if o.profile != "" {
		found := false
		for _, p := range mr.profiles {
			found = found || p == o.profile
		}
		if !found {
			return -1
		}
		spec++
	}
	return spec
}

// parseMediaRange parses `type "/" subtype *( OWS ";" OWS parameter )`
// with an optional q weight.
func parseMediaRange(s string) (mediaRange, bool) {
	parts := splitQuoted(s, ';')
	typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(parts[0])), "/")
	if !ok || !isToken(typ) || !isToken(sub) || typ == "*" && sub != "*" {
		return mediaRange{}, false
	}
	mr := mediaRange{typ: typ, subtype: sub, q: 1000}
	for _, p := range parts[1:] {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || !isToken(name) {
			return mediaRange{}, false
		}
		value, ok = unquote(strings.TrimSpace(value))
		if !ok {
			return mediaRange{}, false
		}
		switch name {
		case "q":
			q, ok := parseQ(value)
			if !ok {
				return mediaRange{}, false
			}
			mr.q = q
		case "profile":
			mr.profiles = strings.Fields(value)
		}
	}
	return mr, true
}

// parseQ parses a qvalue: "0" or "1", optionally with up to three decimals
// (RFC 9110 §12.4.2), in thousandths.
func parseQ(s string) (int, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if (whole != "0" && whole != "1") || len(frac) > 3 {
		return 0, false
	}
	for len(frac) < 3 {
		frac += "0"
	}
	f, err := strconv.Atoi(frac)
	if err != nil || frac[0] == '+' || frac[0] == '-' {
		return 0, false
	}
	q := f
	if whole == "1" {
		if f != 0 {
			return 0, false
		}
		q = 1000
	}
	return q, true
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote returns a token as is, or the content of a quoted-string with its
// backslash escapes removed.
func unquote(s string) (string, bool) {
	if !strings.HasPrefix(s, `"`) {
		return s, isToken(s)
	}
	if len(s) < 2 || !strings.HasSuffix(s, `"`) {
		return "", false
	}
	var b strings.Builder
	inner := s[1 : len(s)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\':
			if i+1 == len(inner) {
				return "", false
			}
			i++
			b.WriteByte(inner[i])
		case c == '"':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
