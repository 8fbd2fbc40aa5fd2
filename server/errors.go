package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/clawnet/ledger/transparency/sequencer"
)

// Stable error codes of the HTTP API (spec/openapi.yaml). Clients branch on
// these, never on messages, so a code is never renamed or reused.
const (
	CodeBadRequest           = "bad_request"            // 400: missing, repeated or conflicting parameters
	CodeBadIndex             = "bad_index"              // 400: an index that is not a canonical uint64
	CodeBadSize              = "bad_size"               // 400: a tree size that is malformed, zero or beyond the log
	CodeBadRange             = "bad_range"              // 400: a consistency range with from > to or from = 0
	CodeBadHash              = "bad_hash"               // 400: a leaf hash that is not 32 bytes of hex or base64
	CodeBadTilePath          = "bad_tile_path"          // 400: a tile path that is not canonical C2SP tlog-tiles
	CodeBadJSON              = "bad_json"               // 400: a body that is not one JSON object of the expected shape
	CodeInvalidEntry         = "invalid_entry"          // 400: a well-formed request whose entry would be invalid
	CodeInvalidArgument      = "invalid_argument"       // 400: the log refused an argument
	CodeUnauthorized         = "unauthorized"           // 401: missing or wrong operator token
	CodeOperatorDisabled     = "operator_disabled"      // 403: no operator token is configured
	CodeNotFound             = "not_found"              // 404: no such entry, leaf, tile or path
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInternal             = "internal"               // 500: details are logged, never sent
	CodeLogFailed            = "log_failed"             // 503: the log stopped after a fatal error
	CodeLogClosed            = "log_closed"             // 503: the log is shutting down
	CodeUnavailable          = "unavailable"            // 503: the request was canceled or timed out
)

// errorCodes lists every code above; spec/openapi.yaml must document each.
var errorCodes = []string{
	CodeBadRequest, CodeBadIndex, CodeBadSize, CodeBadRange, CodeBadHash, CodeBadTilePath,
	CodeBadJSON, CodeInvalidEntry, CodeInvalidArgument, CodeUnauthorized, CodeOperatorDisabled,
	CodeNotFound, CodeMethodNotAllowed, CodeBodyTooLarge, CodeUnsupportedMediaType,
	CodeInternal, CodeLogFailed, CodeLogClosed, CodeUnavailable,
}

// ErrorBody is the body of every non-2xx response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error object inside ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiError is an error with the HTTP status and stable code it maps to. Its
// message is sent to the client, so it must only say what the client did
// wrong; cause, if any, is logged and never sent.
type apiError struct {
	status  int
	code    string
	message string
	cause   error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s (%d %s): %v", e.message, e.status, e.code, e.cause)
	}
	return fmt.Sprintf("%s (%d %s)", e.message, e.status, e.code)
}

func (e *apiError) Unwrap() error { return e.cause }

// errorf returns an apiError whose message is sent to the client.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// toAPIError maps any error to the response it deserves. It does not map
// transparency.ErrMalformed: on the read path that means stored data is
// corrupt (a 500), and handlers that parse client input map it themselves. Errors of other
// packages get a generic message: their text may carry internal details
// (keys, paths, database state) that must not reach clients. Handlers that
// can say something more useful check the condition themselves first.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), err}
	case errors.Is(err, sequencer.ErrNotFound):
		return &apiError{http.StatusNotFound, CodeNotFound, "not found", err}
	case errors.Is(err, sequencer.ErrInvalid):
		return &apiError{http.StatusBadRequest, CodeInvalidArgument, "the log refused the request's arguments", err}
	case errors.Is(err, sequencer.ErrFailed):
		return &apiError{http.StatusServiceUnavailable, CodeLogFailed, "the log has failed and is not accepting requests", err}
	case errors.Is(err, sequencer.ErrClosed):
		return &apiError{http.StatusServiceUnavailable, CodeLogClosed, "the log is shutting down", err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusServiceUnavailable, CodeUnavailable, "the request was canceled or timed out", err}
	default:
		return &apiError{http.StatusInternalServerError, CodeInternal, "internal error", err}
	}
}
