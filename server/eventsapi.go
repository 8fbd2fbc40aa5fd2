package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/transparency/store"
)

// The event streams (spec/events.md): GET /v1/owners/{did}/events and
// GET /v1/agents/{did}/events serve a recipient's persisted stream
// (server/events) as Server-Sent Events. The stream first replays every
// stored event after the resume position (Last-Event-ID or
// ?last_event_id=), then sends each new one as its transaction commits:
// the handler waits on the stream's notifier, never polls. A comment line
// is sent every heartbeat so that proxies and clients see the connection
// alive, and a ": live" comment once the stored backlog has been sent.
// The stream ends when the client goes away or the server shuts
// down (CloseEvents).

// Refusal codes of the event streams.
const (
	// CodeEventsForbidden (403): the signer is not the stream's recipient.
	CodeEventsForbidden = "events_forbidden"
	// codeEventsBindingExpired (403): the agent's binding credential has
	// expired, so the agent can no longer act or be told anything.
	codeEventsBindingExpired = "agent_binding_expired"
)

// DefaultEventHeartbeat is the heartbeat of the event streams when
// IdentityConfig.EventHeartbeat is 0.
const DefaultEventHeartbeat = 15 * time.Second

const (
	// eventPage bounds how many events one read of the store returns while
	// a stream catches up.
	eventPage = 256
	// sseWriteTimeout bounds each write to a stream's client: a client that
	// does not read for this long is dropped (the server's WriteTimeout is
	// lifted for streams, which live longer than any request).
	sseWriteTimeout = 30 * time.Second
)

// eventStreams is the server's part of the event streams: the heartbeat
// and the shutdown signal. closed is closed once, by CloseEvents.
type eventStreams struct {
	heartbeat time.Duration
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *Server) eventRoutes() []route {
	return []route{
		{"GET", "/v1/owners/{did}/events", s.ownerEvents},
		{"GET", "/v1/agents/{did}/events", s.agentEvents},
	}
}

// CloseEvents ends every open event stream and makes new ones end at once.
// http.Server.Shutdown does not cancel the requests it waits for, and a
// stream never finishes by itself: register this with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseEvents() {
	if s.events == nil {
		return
	}
	s.sse.closeOnce.Do(func() { close(s.sse.closed) })
}

// emit appends an event of type typ with data (encoded as JSON) to the
// stream of the recipient DID stream, inside tx: call it from the Apply of
// the log entry that causes the event, so that both commit together, and
// call notifyEvents(stream) once Append returned. Without event streams it
// does nothing.
func (s *Server) emit(tx *store.Tx, stream, typ string, data any) error {
	if s.events == nil {
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: encode data: %w", typ, err)
	}
	if _, err := s.events.AppendTx(tx, stream, events.Event{Type: typ, Time: s.clock().UTC(), Data: b}); err != nil {
		return fmt.Errorf("event %s to %s: %w", typ, stream, err)
	}
	return nil
}

// notifyEvents wakes the subscribers of streams. Call it after the Append
// whose Apply emitted to them returned, successful or not (a rejected
// entry wrote nothing, and a spurious wake-up only costs a read).
func (s *Server) notifyEvents(streams ...string) {
	if s.events == nil {
		return
	}
	for _, st := range streams {
		s.events.Notify(st)
	}
}

// parseLastEventID returns the resume position of an event stream request:
// the Last-Event-ID header or the last_event_id query parameter (equal if
// both are given), a canonical decimal uint64; 0 when neither is given.
func parseLastEventID(header []string, query map[string]string) (uint64, error) {
	var v string
	var have bool
	switch len(header) {
	case 0:
	case 1:
		v, have = header[0], true
	default:
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "Last-Event-ID given %d times", len(header))
	}
	if q, ok := query["last_event_id"]; ok {
		if have && q != v {
			return 0, errorf(http.StatusBadRequest, CodeBadRequest,
				"Last-Event-ID %s and last_event_id %s differ", echo(v), echo(q))
		}
		v, have = q, true
	}
	if !have {
		return 0, nil
	}
	id, err := parseUint(v)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "last event id %s %v", echo(v), err)
	}
	return id, nil
}

// eventsRequest checks what does not need the signature: the query and the
// resume position.
func eventsRequest(r *http.Request) (uint64, error) {
	q, err := queryParams(r.URL.Query(), "last_event_id")
	if err != nil {
		return 0, err
	}
	return parseLastEventID(r.Header.Values("Last-Event-ID"), q)
}

// ownerEvents serves GET /v1/owners/{did}/events, signed by that owner.
func (s *Server) ownerEvents(w http.ResponseWriter, r *http.Request) error {
	after, err := eventsRequest(r)
	if err != nil {
		return err
	}
	owner, err := s.owner(w, r)
	if err != nil {
		return err
	}
	if owner != r.PathValue("did") {
		return errorf(http.StatusForbidden, CodeEventsForbidden, "an owner's event stream is read by that owner only")
	}
	return s.streamEvents(w, r, owner, after)
}

// agentEvents serves GET /v1/agents/{did}/events, signed by that agent,
// which must be bound, not unbound, and its binding not expired.
func (s *Server) agentEvents(w http.ResponseWriter, r *http.Request) error {
	after, err := eventsRequest(r)
	if err != nil {
		return err
	}
	v, _, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	if v.DID != r.PathValue("did") {
		return errorf(http.StatusForbidden, CodeEventsForbidden, "an agent's event stream is read by that agent only")
	}
	// Refusals are 403s, as on the inbox: the signer may not read this.
	a, err := s.registry.Agent(v.DID)
	switch {
	case registry.CodeOf(err) == registry.CodeAgentNotFound:
		return &apiError{http.StatusForbidden, registry.CodeAgentNotFound, "the signer is not a bound agent", err}
	case err != nil:
		return identityError(err)
	case a.Revoked:
		return errorf(http.StatusForbidden, registry.CodeAgentUnbound, "this agent was unbound by its owner")
	}
	if !a.Expires.IsZero() && !s.clock().Before(a.Expires) {
		return errorf(http.StatusForbidden, codeEventsBindingExpired, "this agent's binding credential has expired")
	}
	return s.streamEvents(w, r, v.DID, after)
}

// streamEvents writes stream as Server-Sent Events from after on, until
// the client goes away or the server shuts down: an opening comment, the
// stored events, ": live", then new events and heartbeats. Once the headers are
// sent an error can no longer be answered: it is logged and ends the
// stream, and the client resumes from the last id it received.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, stream string, after uint64) error {
	rc := http.NewResponseController(w)
	// A stream outlives the server's ReadTimeout and WriteTimeout: lift
	// them (the read deadline would cancel the request's context) and
	// bound each write instead.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(http.StatusOK)

	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The opening comment tells the client that the stream is live and
	// from where it is served.
	if !send([]byte(": stream after " + strconv.FormatUint(after, 10) + "\n\n")) {
		return nil
	}
	beat := time.NewTicker(s.sse.heartbeat)
	defer beat.Stop()
	var buf []byte
	live := false
	for {
		// Take the wake-up channel before reading, so that an event that
		// commits after the read still wakes us.
		wake := s.events.Wait(stream)
		for {
			evs, err := s.events.Since(stream, after, eventPage)
			if err != nil {
				s.logger.Error("event stream read failed", "stream", stream, "after", after, "err", err)
				return nil
			}
			if len(evs) == 0 {
				break
			}
			buf = buf[:0]
			for _, e := range evs {
				if buf, err = appendSSE(buf, e); err != nil {
					s.logger.Error("event stream encode failed", "stream", stream, "id", e.ID, "err", err)
					return nil
				}
				after = e.ID
			}
			if !send(buf) {
				return nil
			}
			if len(evs) < eventPage {
				break
			}
		}
		// Once the stored backlog is sent, say so: a client that only
		// wants what is stored (clawnet events without --follow) stops
		// here.
		if !live {
			if !send([]byte(": live\n\n")) {
				return nil
			}
			live = true
		}
		select {
		case <-wake:
		case <-beat.C:
			if !send([]byte(": ping\n\n")) {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-s.sse.closed:
			return nil
		}
	}
}

// appendSSE appends one event in the text/event-stream format: its id,
// its type as the SSE event name, and the whole event as one line of JSON
// data.
func appendSSE(b []byte, e events.Event) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return b, err
	}
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, "\nevent: "...)
	b = append(b, e.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...), nil
}
