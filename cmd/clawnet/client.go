package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/transparency"
)

// The owner and agent client: every call that changes state, and every
// private read, is a signed request (spec/signed-requests.md) made with a
// key file. The audience is the origin of --server, which must be the
// server's public URL (its --public-url).

// serverOrigin returns the origin (scheme://host[:port]) of a --server URL.
func serverOrigin(server string) (string, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	if u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("--server %q must be an origin (scheme://host:port), without path, query or user", server)
	}
	return u.Scheme + "://" + u.Host, nil
}

// apiError is a refusal by the server: its stable code and message.
type apiError struct {
	Status  string
	Code    string
	Message string
}

func (e *apiError) Error() string {
	hint := ""
	switch e.Code {
	case "request_wrong_audience":
		hint = "\n  hint: --server must be the server's public URL (clawnet serve --public-url)"
	case "request_expired", "request_not_yet_valid":
		hint = "\n  hint: check this machine's clock"
	}
	return fmt.Sprintf("server refused (%s): %s: %s%s", e.Status, e.Code, e.Message, hint)
}

// call sends a request (signed with key unless key is nil) and returns
// the body of a 2xx answer; any other answer is an *apiError when the
// server said why.
func call(ctx context.Context, server string, key *signingKey, method, path string, body any) ([]byte, error) {
	origin, err := serverOrigin(server)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, origin+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if key != nil {
		s := &request.Signer{Key: key.Priv, KID: key.KID, Audience: origin, Now: time.Now}
		if err := s.SignRequest(req); err != nil {
			return nil, fmt.Errorf("sign request with %s: %w", key.Path, err)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%v\n  hint: is `clawnet serve` running at that address? (--server)", err)
	}
	defer resp.Body.Close()
	return readAnswer(resp, 16<<20)
}

// readAnswer returns the body of a 2xx answer, read up to limit bytes; any
// other answer is an *apiError when the server said why.
func readAnswer(resp *http.Response, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return nil, &apiError{resp.Status, e.Error.Code, e.Error.Message}
		}
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	return b, nil
}

// mutation is the common part of the answer to a state change: the index
// of its log entry and the receipt for it.
type mutation struct {
	Index   uint64          `json:"index"`
	Receipt json.RawMessage `json:"receipt"`
}

// reportMutation prints the log index of a state change's entry and saves
// its receipt when receiptPath is set. The receipt is checked for form
// here; clawaudit verify checks it against a key the user trusts.
func reportMutation(b []byte, receiptPath string, stdout io.Writer) (mutation, error) {
	var m mutation
	if err := json.Unmarshal(b, &m); err != nil || len(m.Receipt) == 0 {
		return m, fmt.Errorf("the server's answer has no receipt")
	}
	r, err := transparency.ParseReceipt(m.Receipt)
	if err != nil {
		return m, fmt.Errorf("the server sent a bad receipt: %w", err)
	}
	if r.Index != m.Index {
		return m, fmt.Errorf("the server's receipt is for entry %d, not %d", r.Index, m.Index)
	}
	fmt.Fprintf(stdout, "logged as entry %d\n", m.Index)
	if receiptPath != "" {
		enc, err := r.Marshal()
		if err == nil {
			err = os.WriteFile(receiptPath, enc, 0o644)
		}
		if err != nil {
			return m, fmt.Errorf("save receipt: %w", err)
		}
		fmt.Fprintf(stdout, "receipt saved to %s (check it with: clawaudit verify)\n", receiptPath)
	}
	return m, nil
}
