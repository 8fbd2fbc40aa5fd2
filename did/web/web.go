// Package web resolves did:web DIDs of other hosts over HTTPS, per the
// did:web method specification (https://w3c-ccg.github.io/did-method-web/)
// as restricted by spec/did-web.md. It is the did.RemoteSource of the
// resolver; DIDs hosted by this server never reach it.
//
// What the package promises:
//   - One GET over HTTPS (TLS 1.2 or later, certificate verified) to the URL
//     did.WebURL gives, bounded in time (Timeout, for the whole exchange,
//     redirects and body included) and in size (MaxSize; at most MaxSize+1
//     bytes are ever read).
//   - Redirects only to https URLs of the same host and port, at most
//     three, never in a cycle.
//   - Unless AllowPrivate is set, no connection is ever made to a
//     loopback, private (RFC 1918, fc00::/7), link-local, CGNAT
//     (100.64.0.0/10), unspecified, multicast or reserved address. The
//     check runs on the address actually dialed (net.Dialer
//     ControlContext), after name resolution, so a name that resolves (or
//     re-resolves: DNS rebinding) to such an address is refused too. No
//     proxy is used, as a proxy would dial on our behalf unchecked.
//   - The document is checked before it is returned: JSON nested at most
//     32 deep, did.ParseDocument (strict), id equal to the DID, every
//     verification method and every verification relationship reference
//     of this DID and defined in the document. Nothing is resolved
//     transitively: controller, alsoKnownAs and every other DID in the
//     document are kept but never followed, so a document cannot make the
//     resolver loop or fetch elsewhere.
//   - Every failure is a *did.ResolutionError with a standard code and a
//     Detail code of its own (the Detail… constants; see spec/did-web.md
//     for their HTTP statuses). Messages never carry the addresses a name
//     resolved to.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clawnet/ledger/did"
)

// Defaults of the zero Remote's fields.
const (
	DefaultTimeout = 5 * time.Second
	DefaultMaxSize = 64 << 10
	DefaultTTL     = 5 * time.Minute
	// MaxRedirects is how many redirects one resolution follows.
	MaxRedirects = 3
	// MaxDepth is how deeply the JSON of a document may nest.
	MaxDepth = 32
)

// Detail codes (did.ResolutionError.Detail) of remote resolution, with the
// standard code each goes with. They are part of the wire format
// (didResolutionMetadata.clawnetError).
const (
	// notFound: the host answered 404 or 410.
	DetailNotFound = "did_web_not_found"
	// internalError: any other status than 200.
	DetailHTTPStatus = "did_web_http_status"
	// internalError: a redirect to another host or port, or not https.
	DetailRedirectRefused = "did_web_redirect_refused"
	// internalError: a redirect to a URL already visited.
	DetailRedirectLoop = "did_web_redirect_loop"
	// internalError: more than MaxRedirects redirects.
	DetailTooManyRedirects = "did_web_too_many_redirects"
	// internalError: the host is, or resolves to, an address that is not
	// public, and AllowPrivate is off.
	DetailPrivateAddress = "did_web_private_address"
	// internalError: Timeout passed.
	DetailTimeout = "did_web_timeout"
	// internalError: the caller's context ended first.
	DetailCanceled = "did_web_canceled"
	// internalError: the name does not resolve, the connection or the TLS
	// handshake failed (certificate not trusted included).
	DetailFetchFailed = "did_web_fetch_failed"
	// invalidDidDocument: the body is larger than MaxSize.
	DetailTooLarge = "did_web_document_too_large"
	// invalidDidDocument: the JSON nests deeper than MaxDepth.
	DetailTooDeep = "did_web_document_too_deep"
	// invalidDidDocument: did.ParseDocument refuses the body.
	DetailInvalidDocument = "did_web_document_invalid"
	// invalidDidDocument: the document's id is not the DID.
	DetailIDMismatch = "did_web_id_mismatch"
	// invalidDidDocument: a verification method, or a relationship
	// reference, belongs to another DID.
	DetailExternalReference = "did_web_external_reference"
	// invalidDidDocument: a relationship references a method the document
	// does not define.
	DetailUnknownReference = "did_web_unknown_reference"
)

// Remote resolves did:web DIDs over HTTPS. Set its fields before the first
// ResolveRemote and do not change or copy it afterwards; it is then safe
// for concurrent use.
type Remote struct {
	// Client is the HTTP client to start from; nil means a default one
	// with TLS 1.2 or later. Its Transport must be nil or an
	// *http.Transport: Remote uses a clone of it whose dialer enforces the
	// address policy, without proxy, and its own redirect policy, so that
	// neither can be bypassed by configuration. Tests inject a client
	// trusting their server's certificate.
	Client *http.Client
	// Timeout bounds one whole resolution; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxSize bounds the document, in bytes; 0 means DefaultMaxSize.
	MaxSize int64
	// AllowPrivate allows non-public addresses (tests, private
	// deployments: --allow-private-did-web).
	AllowPrivate bool
	// TTL is how long a result may be cached; 0 means DefaultTTL. A
	// shorter max-age, or no-store / no-cache, from the host wins.
	TTL time.Duration

	once    sync.Once
	client  *http.Client
	initErr error
}

var _ did.RemoteSource = (*Remote)(nil)

// ResolveRemote resolves a did:web of another host. See the package
// documentation for the rules; every failure is a *did.ResolutionError.
func (r *Remote) ResolveRemote(ctx context.Context, id string) (*did.Result, error) {
	target, err := did.WebURL(id)
	if err != nil {
		return nil, &did.ResolutionError{Code: did.ErrorInvalidDID, Detail: did.DetailWebInvalid,
			Message: "not a valid did:web (see spec/did-web.md)", Err: err}
	}
	r.once.Do(r.init)
	if r.initErr != nil {
		return nil, &did.ResolutionError{Code: did.ErrorInternal, Message: "internal error", Err: r.initErr}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, header, err := r.fetch(fctx, target)
	if err != nil {
		return nil, classify(ctx, fctx, err)
	}
	doc, rerr := checkDocument(id, body)
	if rerr != nil {
		return nil, rerr
	}
	return &did.Result{
		Document:           doc,
		ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON},
		TTL:                r.ttl(header),
	}, nil
}

// fetch GETs target and returns a 200 body of at most MaxSize bytes.
func (r *Remote) fetch(ctx context.Context, target string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", target, err)
	}
	req.Header.Set("Accept", did.MediaTypeDIDJSON+", application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, nil, &did.ResolutionError{Code: did.ErrorNotFound, Detail: DetailNotFound,
			Message: fmt.Sprintf("the did:web host answered %d: no DID document", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, nil, &did.ResolutionError{Code: did.ErrorInternal, Detail: DetailHTTPStatus,
			Message: fmt.Sprintf("the did:web host answered %d, not 200", resp.StatusCode)}
	}
	max := r.maxSize()
	if resp.ContentLength > max {
		return nil, nil, tooLarge(max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read did:web document: %w", err)
	}
	if int64(len(body)) > max {
		return nil, nil, tooLarge(max)
	}
	return body, resp.Header, nil
}

func (r *Remote) maxSize() int64 {
	if r.MaxSize > 0 {
		return r.MaxSize
	}
	return DefaultMaxSize
}

func tooLarge(max int64) error {
	return &did.ResolutionError{Code: did.ErrorInvalidDIDDocument, Detail: DetailTooLarge,
		Message: fmt.Sprintf("the did:web document is larger than %d bytes", max)}
}

// ttl is Remote.TTL bounded by the response's Cache-Control.
func (r *Remote) ttl(h http.Header) time.Duration {
	ttl := r.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					return 0 // malformed: trust nothing
				}
				if d := time.Duration(n) * time.Second; n < int64(ttl/time.Second) {
					ttl = d
				}
			}
		}
	}
	return ttl
}

// classify turns a fetch failure into a *did.ResolutionError. parent is the
// caller's context, fctx the one with the timeout.
func classify(parent, fctx context.Context, err error) error {
	var re *did.ResolutionError
	var pe *privateAddressError
	var rde *redirectError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &pe):
		return &did.ResolutionError{Code: did.ErrorInternal, Detail: DetailPrivateAddress, Err: err,
			Message: "the did:web host is, or resolves to, a loopback, private or otherwise non-public address, which this resolver does not contact"}
	case errors.As(err, &rde):
		return &did.ResolutionError{Code: did.ErrorInternal, Detail: rde.detail, Message: rde.msg, Err: err}
	case parent.Err() != nil:
		return &did.ResolutionError{Code: did.ErrorInternal, Detail: DetailCanceled,
			Message: "the resolution was canceled", Err: err}
	case fctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return &did.ResolutionError{Code: did.ErrorInternal, Detail: DetailTimeout,
			Message: "the did:web host did not answer in time", Err: err}
	default:
		return &did.ResolutionError{Code: did.ErrorInternal, Detail: DetailFetchFailed,
			Message: "could not fetch the did:web document (name resolution, connection or TLS failed)", Err: err}
	}
}

// checkDocument parses and checks a fetched document for the DID id.
func checkDocument(id string, body []byte) (*did.Document, error) {
	invalid := func(detail, msg string, err error) error {
		return &did.ResolutionError{Code: did.ErrorInvalidDIDDocument, Detail: detail, Message: msg, Err: err}
	}
	if depth := jsonDepth(body); depth > MaxDepth {
		return nil, invalid(DetailTooDeep, fmt.Sprintf("the did:web document nests deeper than %d", MaxDepth), nil)
	}
	doc, err := did.ParseDocument(body)
	if err != nil {
		return nil, invalid(DetailInvalidDocument, "the did:web document is not a valid DID document", err)
	}
	if doc.ID != id {
		return nil, invalid(DetailIDMismatch, "the did:web document's id is not the DID resolved", nil)
	}
	methods := map[string]bool{}
	for _, vm := range doc.VerificationMethod {
		abs, ok := ownURL(id, vm.ID)
		if !ok {
			return nil, invalid(DetailExternalReference, "a verification method's id is not a DID URL of the DID resolved", nil)
		}
		methods[abs] = true
	}
	for _, refs := range [][]string{doc.Authentication, doc.AssertionMethod, doc.CapabilityDelegation, doc.CapabilityInvocation} {
		for _, ref := range refs {
			abs, ok := ownURL(id, ref)
			if !ok {
				return nil, invalid(DetailExternalReference,
					"a verification relationship references a method of another DID, which this resolver does not follow", nil)
			}
			if !methods[abs] {
				return nil, invalid(DetailUnknownReference,
					"a verification relationship references a method the document does not define", nil)
			}
		}
	}
	if len(doc.Context) == 0 {
		// The host served the JSON representation (application/did+json);
		// results are in the JSON-LD one, whose only difference is the
		// context (DID Core §6.2, §6.3).
		doc.Context = []string{did.ContextDIDv1}
	}
	return doc, nil
}

// ownURL returns the absolute form of ref (a DID URL or "#fragment") and
// whether it is a URL of the DID id.
func ownURL(id, ref string) (string, bool) {
	if strings.HasPrefix(ref, "#") {
		return id + ref, true
	}
	u, err := did.ParseDIDURL(ref)
	return ref, err == nil && u.DID == id
}

// jsonDepth returns the deepest nesting of arrays and objects in data,
// which need not be valid JSON: brackets inside strings do not count.
func jsonDepth(data []byte) int {
	depth, max, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				max = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return max
}

// init builds the guarded client.
func (r *Remote) init() {
	var t *http.Transport
	var base *http.Client
	if r.Client != nil {
		base = r.Client
	}
	switch {
	case base == nil || base.Transport == nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	default:
		ht, ok := base.Transport.(*http.Transport)
		if !ok {
			r.initErr = fmt.Errorf("did/web: Remote.Client.Transport is a %T, want nil or *http.Transport", base.Transport)
			return
		}
		t = ht.Clone()
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	if t.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		t.TLSClientConfig.MinVersion = tls.VersionTLS12
	}
	t.Proxy = nil
	t.DialTLSContext = nil
	t.DialTLS = nil //nolint:staticcheck // cleared so that it cannot bypass DialContext
	t.Dial = nil    //nolint:staticcheck // idem
	d := &net.Dialer{ControlContext: r.control}
	t.DialContext = d.DialContext
	r.client = &http.Client{Transport: t, CheckRedirect: checkRedirect}
}

// control runs on every connection about to be made, with the address
// name resolution produced.
func (r *Remote) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	if r.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &privateAddressError{address: address}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !Public(ip) {
		return &privateAddressError{address: address}
	}
	return nil
}

type privateAddressError struct{ address string }

func (e *privateAddressError) Error() string {
	return "refusing to connect to non-public address " + e.address
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	reserved  = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// Public reports whether ip is an address Remote may connect to when
// AllowPrivate is off: not loopback, private (RFC 1918, fc00::/7),
// link-local, unspecified, multicast, CGNAT (100.64.0.0/10), "this
// network" (0.0.0.0/8), benchmarking (198.18.0.0/15) or reserved
// (240.0.0.0/4). IPv4-mapped IPv6 and NAT64 (64:ff9b::/96) addresses are
// judged by the IPv4 address they carry.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if ip.Zone() != "" {
		return false
	}
	return ip.IsValid() && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() &&
		!ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() && !ip.IsMulticast() &&
		!ip.IsUnspecified() && !cgnat.Contains(ip) && !thisNet.Contains(ip) &&
		!reserved.Contains(ip) && !benchmark.Contains(ip)
}

type redirectError struct{ detail, msg string }

func (e *redirectError) Error() string { return e.detail + ": " + e.msg }

// checkRedirect is the client's redirect policy: https, same host and
// port as the first request, no URL twice, at most MaxRedirects.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != "https" || req.URL.Host != first.Host || req.URL.User != nil {
		return &redirectError{DetailRedirectRefused,
			"the did:web host redirected to another host, port or scheme, which this resolver does not follow"}
	}
	next := canonical(req.URL)
	for _, v := range via {
		if canonical(v.URL) == next {
			return &redirectError{DetailRedirectLoop, "the did:web host's redirects form a cycle"}
		}
	}
	if len(via) > MaxRedirects {
		return &redirectError{DetailTooManyRedirects,
			fmt.Sprintf("the did:web host redirected more than %d times", MaxRedirects)}
	}
	return nil
}

func canonical(u *url.URL) string {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}
