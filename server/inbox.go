package server

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency/store"
)

// Agent inboxes (spec/inbox.md): the messages relayed to an Identity
// Agent, read and acknowledged by that agent only, with signed requests.
// Reading changes nothing; acknowledging changes only what is shown again
// and is not logged (see package mailbox), so neither appends an entry.

// CodeInboxNotYours: a request to an inbox signed by another DID than the
// inbox's agent.
const CodeInboxNotYours = "inbox_not_yours"

// Bounds of the inbox API.
const (
	defaultInboxLimit = 100
	maxInboxLimit     = 1000
	maxAckIDs         = 1000
)

func (s *Server) inboxRoutes() []route {
	return []route{
		{"GET", "/v1/agents/{did}/inbox", s.listInbox},
		{"POST", "/v1/agents/{did}/inbox/ack", s.ackInbox},
	}
}

// deliver puts m into its recipient's inbox; the orchestrator calls it
// inside the Apply of the log entry that allows the message, so that the
// message commits with that entry (package mailbox).
func (s *Server) deliver(tx *store.Tx, m mailbox.Message) (uint64, error) {
	if s.mailbox == nil {
		return 0, errors.New("deliver: inboxes are not configured")
	}
	return s.mailbox.Deliver(tx, m)
}

// inboxAgent authenticates a request to the inbox of the path's agent: it
// must be signed by that agent, bound and not unbound. An unbound agent
// loses its inbox with its binding: its owner cut it off.
func (s *Server) inboxAgent(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return "", nil, err
	}
	agent := r.PathValue("did")
	if v.DID != agent {
		return "", nil, errorf(http.StatusForbidden, CodeInboxNotYours, "only the agent %s may use its inbox", echo(agent))
	}
	a, err := s.registry.Agent(agent)
	switch {
	case registry.CodeOf(err) == registry.CodeAgentNotFound:
		return "", nil, &apiError{http.StatusForbidden, registry.CodeAgentNotFound, "the signer is not a bound agent", err}
	case err != nil:
		return "", nil, identityError(err)
	case a.Revoked:
		return "", nil, errorf(http.StatusForbidden, registry.CodeAgentUnbound, "the agent was unbound by its owner")
	}
	return agent, body, nil
}

// InboxMessage is one message as GET /v1/agents/{did}/inbox shows it.
type InboxMessage struct {
	Seq           uint64    `json:"seq"`
	ID            string    `json:"id"`
	From          string    `json:"from"`
	FromOwner     string    `json:"from_owner"`
	Action        string    `json:"action"`
	Resource      string    `json:"resource,omitempty"`
	ContentDigest string    `json:"content_digest,omitempty"`
	Content       string    `json:"content,omitempty"`
	DecisionIndex uint64    `json:"decision_index"`
	Time          time.Time `json:"time"`
}

// InboxPage is the answer of GET /v1/agents/{did}/inbox. NextAfter is the
// after of the next page: the last seq shown, or the request's after if
// none.
type InboxPage struct {
	Agent     string         `json:"agent"`
	Messages  []InboxMessage `json:"messages"`
	NextAfter uint64         `json:"next_after"`
}

// InboxAck is the body of POST /v1/agents/{did}/inbox/ack.
type InboxAck struct {
	IDs []string `json:"ids"`
}

// InboxAcked is its answer: how many messages were unacknowledged until
// this request.
type InboxAcked struct {
	Acked int `json:"acked"`
}

// parseInboxQuery reads ?after=<seq>&limit=<n>: after a canonical uint64
// (default 0), limit 1 to maxInboxLimit (default defaultInboxLimit).
func parseInboxQuery(raw string) (after uint64, limit int, err error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return 0, 0, errorf(http.StatusBadRequest, CodeBadRequest, "malformed query string")
	}
	p, err := queryParams(q, "after", "limit")
	if err != nil {
		return 0, 0, err
	}
	if v, ok := p["after"]; ok {
		if after, err = parseUint(v); err != nil {
			return 0, 0, errorf(http.StatusBadRequest, CodeBadRequest, "after %s %v", echo(v), err)
		}
	}
	limit = defaultInboxLimit
	if v, ok := p["limit"]; ok {
		n, err := parseUint(v)
		if err != nil || n < 1 || n > maxInboxLimit {
			return 0, 0, errorf(http.StatusBadRequest, CodeBadRequest, "limit %s is not an integer from 1 to %d", echo(v), maxInboxLimit)
		}
		limit = int(n)
	}
	return after, limit, nil
}

func (s *Server) listInbox(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := parseInboxQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	agent, _, err := s.inboxAgent(w, r)
	if err != nil {
		return err
	}
	stored, err := s.mailbox.List(agent, after, limit)
	if err != nil {
		return err
	}
	page := InboxPage{Agent: agent, Messages: make([]InboxMessage, len(stored)), NextAfter: after}
	for i, m := range stored {
		page.Messages[i] = InboxMessage{
			Seq: m.Seq, ID: m.ID, From: m.From, FromOwner: m.FromOwner, Action: m.Action, Resource: m.Resource,
			ContentDigest: m.ContentDigest, Content: m.Content, DecisionIndex: m.DecisionIndex, Time: m.Time,
		}
		page.NextAfter = m.Seq
	}
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, page)
}

func (s *Server) ackInbox(w http.ResponseWriter, r *http.Request) error {
	agent, body, err := s.inboxAgent(w, r)
	if err != nil {
		return err
	}
	var b InboxAck
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	if b.IDs == nil {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body: ids is required")
	}
	if len(b.IDs) > maxAckIDs {
		return errorf(http.StatusBadRequest, CodeBadRequest, "at most %d ids per acknowledgement", maxAckIDs)
	}
	for _, id := range b.IDs {
		if !mailbox.ValidID(id) {
			return errorf(http.StatusBadRequest, CodeBadRequest, "id %s is not a message id", echo(id))
		}
	}
	n, err := s.mailbox.Ack(agent, b.IDs)
	if err != nil {
		return err
	}
	return respondJSON(w, http.StatusOK, InboxAcked{Acked: n})
}
