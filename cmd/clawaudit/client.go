package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clawnet/ledger/transparency"
)

// Bounds on what is read from the network: nothing the server sends is
// read without a limit.
const (
	// maxBundleSize is a full entry bundle of maximal entries.
	maxBundleSize = transparency.TileWidth * (2 + transparency.MaxEntrySize)
	// maxHashTileSize is a full hash tile.
	maxHashTileSize = transparency.TileWidth * transparency.HashSize
	// maxJSONSize bounds a JSON proof response (at most MaxProofLen hashes
	// plus a checkpoint).
	maxJSONSize = 64 << 10
	// maxErrorSize bounds the JSON error body of a non-2xx response.
	maxErrorSize = 8 << 10
	// defaultTimeout is the HTTP client timeout of one request.
	defaultTimeout = 30 * time.Second
)

// errNotFound matches an HTTP 404 from the log.
var errNotFound = errors.New("not found")

// httpError is a non-2xx response, with the log's stable error code when
// the body is the API's JSON error.
type httpError struct {
	URL     string
	Status  int
	Code    string
	Message string
}

func (e *httpError) Error() string {
	s := fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *httpError) Is(target error) bool {
	return target == errNotFound && e.Status == http.StatusNotFound
}

// netError is a failure to talk to the server at all.
type netError struct {
	URL string
	Err error
}

func (e *netError) Error() string { return fmt.Sprintf("GET %s: %v", e.URL, e.Err) }
func (e *netError) Unwrap() error { return e.Err }

// logClient reads a log's public API. It holds no state besides its
// configuration and is safe for concurrent use.
type logClient struct {
	base string // scheme://host[:port][/prefix], without a trailing slash
	hc   *http.Client
}

func newLogClient(server string, timeout time.Duration) (*logClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usageErrorf("--server %q is not an http(s) URL such as http://127.0.0.1:8080", server)
	}
	if timeout <= 0 {
		return nil, usageErrorf("--timeout must be positive")
	}
	return &logClient{
		base: strings.TrimSuffix(u.String(), "/"),
		hc:   &http.Client{Timeout: timeout},
	}, nil
}

// get fetches path (starting with "/") and returns a body of at most
// limit bytes.
func (c *logClient) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	u := c.base + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL; netError says them once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, withHint(&netError{URL: u, Err: err}, "is the server running, and is --server right?")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		he := &httpError{URL: u, Status: resp.StatusCode}
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorSize))
		if json.Unmarshal(b, &body) == nil {
			he.Code = truncate(body.Error.Code, 64)
			he.Message = truncate(body.Error.Message, 200)
		}
		return nil, he
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &netError{URL: u, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", u, limit)
	}
	return b, nil
}

// checkpoint fetches the latest signed checkpoint note.
func (c *logClient) checkpoint(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "/log/checkpoint", transparency.MaxCheckpointSize)
}

// tile fetches a tile (entry bundle or hash tile). A partial tile that is
// gone (404) is read from the full tile of the same index, which C2SP
// tlog-tiles lets a log serve in its place once it exists.
func (c *logClient) tile(ctx context.Context, id transparency.TileID) ([]byte, error) {
	limit := int64(maxHashTileSize)
	if id.Entries {
		limit = maxBundleSize
	}
	b, err := c.get(ctx, "/log/"+id.Path(), limit)
	if err != nil && errors.Is(err, errNotFound) && id.Width < transparency.TileWidth {
		full := id
		full.Width = transparency.TileWidth
		if fb, ferr := c.get(ctx, "/log/"+full.Path(), limit); ferr == nil {
			return fb, nil
		}
	}
	return b, err
}

// consistencyProof fetches the consistency proof between two sizes.
func (c *logClient) consistencyProof(ctx context.Context, from, to uint64) ([]byte, error) {
	q := "from=" + strconv.FormatUint(from, 10) + "&to=" + strconv.FormatUint(to, 10)
	return c.get(ctx, "/log/v1/proof/consistency?"+q, maxJSONSize)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
