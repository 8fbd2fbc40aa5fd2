package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clawnet/ledger/did"
	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/server/events"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/grant"
	"github.com/clawnet/ledger/vc/scope"
)

// Actions (spec/actions.md): an agent asks "may I?" with a signed request,
// the orchestrator runs the checks of spec/actions.md §3 in order, and the
// decision, whatever it is, is one action.decision entry stored with the
// decision record in one transaction; the answer carries its receipt.
// Decisions are idempotent per (agent, request id).
//
// An allowed message/send is delivered to the recipient agent's inbox in
// the decision's own transaction, and the delivery is then its own
// message.delivered entry (spec/actions.md §7); the events of a decision
// and of a delivery are appended in the same transactions as their entries
// (spec/events.md §6).

func (s *Server) actionRoutes() []route {
	return []route{
		{"POST", "/v1/actions", s.postAction},
		{"GET", "/v1/actions/{id}", s.getAction},
	}
}

// Codes of the action API (spec/actions.md §6).
const (
	CodeNotAnAgent            = "not_an_agent"            // 403: the signer was never bound as an agent
	CodeActionIDConflict      = "action_id_conflict"      // 409: the request id was used for other action fields
	CodeContentDigestMismatch = "content_digest_mismatch" // 400: content_digest is not the SHA-256 of content
	CodeActionForbidden       = "action_forbidden"        // 403: reading another agent's decision
)

// actionCodes are the codes above; spec/openapi.yaml documents each.
var actionCodes = []string{CodeNotAnAgent, CodeActionIDConflict, CodeContentDigestMismatch, CodeActionForbidden}

// Denial reason codes that are not the scope evaluator's or grant codes
// (spec/actions.md §3).
const (
	ReasonAgentUnbound                 = "agent_unbound"
	ReasonAgentBindingExpired          = "agent_binding_expired"
	ReasonManagerIsolation             = "manager_isolation"
	ReasonNotAContact                  = "not_a_contact"
	ReasonCounterpartyAgentUnavailable = "counterparty_agent_unavailable"
	ReasonRecipientRefuses             = "recipient_refuses"
	// ReasonRecipientInboxFull: the recipient's inbox holds its bound of
	// unacknowledged messages (mailbox.CodeInboxFull).
	ReasonRecipientInboxFull = "recipient_inbox_full"
)

// violationScope is the boundary.violation code of a denial by the scope
// evaluator, whose reason is the evaluator's text rather than a code.
const violationScope = "denied_by_scope"

// boundaryViolations are the denials that tell the owner one of its agents
// tried to act outside its boundaries (spec/events.md §6): not a failure of
// the credential, the binding or the recipient's inbox.
var boundaryViolations = map[string]bool{
	ReasonManagerIsolation: true, ReasonNotAContact: true, ReasonCounterpartyAgentUnavailable: true,
	ReasonRecipientRefuses: true, violationScope: true,
}

// Event types of the action pipeline (spec/events.md §6).
const (
	EventActionDecided     = "action.decided"
	EventEscalationOpened  = "escalation.opened"
	EventBoundaryViolation = "boundary.violation"
	EventMessageReceived   = "message.received"
)

// escalationWindow is how long an escalation waits for its owner's answer:
// the deadline of escalation.opened.
const escalationWindow = 30 * time.Minute

// ActionDecidedEvent is the data of action.decided, on the acting agent's
// stream.
type ActionDecidedEvent struct {
	ID       string                `json:"id"`
	Decision transparency.Decision `json:"decision"`
	Reason   string                `json:"reason"`
	Index    uint64                `json:"index"`
}

// EscalationOpenedEvent is the data of escalation.opened, on the acting
// agent's owner's stream. Args is the canonical arguments, omitted (and
// ArgsOmitted set) when the event would exceed events.MaxData.
type EscalationOpenedEvent struct {
	Escalation   string          `json:"escalation"`
	ID           string          `json:"id"`
	Agent        string          `json:"agent"`
	Action       string          `json:"action"`
	Resource     string          `json:"resource"`
	Counterparty string          `json:"counterparty,omitempty"`
	Args         json.RawMessage `json:"args,omitempty"`
	ArgsOmitted  bool            `json:"args_omitted,omitempty"`
	Reason       string          `json:"reason"`
	Index        uint64          `json:"index"`
	Deadline     time.Time       `json:"deadline"`
}

// BoundaryViolationEvent is the data of boundary.violation, on the acting
// agent's owner's stream. Code is the denial's reason code, or
// "denied_by_scope" for the scope evaluator's denial.
type BoundaryViolationEvent struct {
	ID           string `json:"id"`
	Agent        string `json:"agent"`
	Action       string `json:"action"`
	Resource     string `json:"resource"`
	Counterparty string `json:"counterparty,omitempty"`
	Code         string `json:"code"`
	Reason       string `json:"reason"`
	Index        uint64 `json:"index"`
}

// MessageReceivedEvent is the data of message.received, on the recipient
// agent's stream. Index is the message.delivered entry.
type MessageReceivedEvent struct {
	Message   string `json:"message"`
	From      string `json:"from"`
	FromOwner string `json:"from_owner"`
	Seq       uint64 `json:"seq"`
	Index     uint64 `json:"index"`
}

// Limits of an action request (spec/actions.md §2).
const (
	maxActionContent = 32 << 10
	maxActionArgs    = 64
	// actionMessageSend is the action whose recipient must accept it, and
	// actionMessageReceive what the recipient's delegation must allow.
	actionMessageSend    = "message/send"
	actionMessageReceive = "message/receive"
	actionPrefix         = "s/action/"
)

// ActionRequest is the body of POST /v1/actions.
type ActionRequest struct {
	ID            string          `json:"id"`
	Action        string          `json:"action"`
	Resource      string          `json:"resource"`
	Counterparty  string          `json:"counterparty,omitempty"`
	Args          json.RawMessage `json:"args,omitempty"`
	ContentDigest string          `json:"content_digest,omitempty"`
	Content       *string         `json:"content,omitempty"`
	Credential    string          `json:"credential"`
}

// ActionResponse is the answer to POST /v1/actions and GET
// /v1/actions/{id}.
type ActionResponse struct {
	ID       string                `json:"id"`
	Decision transparency.Decision `json:"decision"`
	Reason   string                `json:"reason"`
	Index    uint64                `json:"index"`
	Receipt  json.RawMessage       `json:"receipt"`
	// Escalate is the escalation id of an escalated decision.
	Escalate string `json:"escalation,omitempty"`
	// Delivery is the delivery of an allowed message/send.
	Delivery *ActionDelivery `json:"delivery,omitempty"`
	// Answer is the outcome of an escalation (approved, denied,
	// timed_out) and AnswerIndex its escalation.answered entry
	// (spec/escalations.md).
	Answer      transparency.Decision `json:"answer,omitempty"`
	AnswerIndex uint64                `json:"answer_index,omitempty"`
}

// ActionDelivery is the delivery of a message: its id, the recipient
// agent, and the message.delivered entry with its receipt.
type ActionDelivery struct {
	Message   string          `json:"message"`
	Recipient string          `json:"recipient"`
	Index     uint64          `json:"index"`
	Receipt   json.RawMessage `json:"receipt"`
}

// actionRecord is the stored decision under s/action/<agent>/<id>. Fields
// is the digest of the action fields (actionFields), for idempotency.
type actionRecord struct {
	Fields     string                `json:"fields"`
	Decision   transparency.Decision `json:"decision"`
	Reason     string                `json:"reason"`
	Index      uint64                `json:"index"`
	Escalation string                `json:"escalation,omitempty"`
	// The delivery of an allowed message/send: the message id, the
	// sender's owner, the recipient agent and owner, the inbox seq, the
	// content digest ("" if none), and the message.delivered entry (0
	// until it is appended).
	Message        string `json:"message,omitempty"`
	Owner          string `json:"owner,omitempty"`
	Recipient      string `json:"recipient,omitempty"`
	RecipientOwner string `json:"recipient_owner,omitempty"`
	Seq            uint64 `json:"seq,omitempty"`
	ContentDigest  string `json:"content_digest,omitempty"`
	DeliveryIndex  uint64 `json:"delivery_index,omitempty"`
	// The answer to an escalation and its escalation.answered entry.
	Answer      transparency.Decision `json:"answer,omitempty"`
	AnswerIndex uint64                `json:"answer_index,omitempty"`
}

func actionKey(agent, id string) []byte { return []byte(actionPrefix + agent + "/" + id) }

// pendingPrefix holds one empty record per decision whose message is in
// the inbox and whose message.delivered entry is not yet appended:
// "s/action-delivery/<agent>/<id>", written with the decision and deleted
// with the delivery entry, so that RecoverDeliveries reads only these.
const pendingPrefix = "s/action-delivery/"

func pendingKey(agent, id string) []byte { return []byte(pendingPrefix + agent + "/" + id) }

// errDelivered is returned by a delivery's Apply when the delivery entry
// was appended first (a retry racing with RecoverDeliveries).
var errDelivered = errors.New("delivery already logged")

// errActionExists is returned by a decision's Apply when the same (agent,
// id) was decided first (two requests racing with the same id).
var errActionExists = errors.New("action already decided")

// parsedAction is a validated ActionRequest.
type parsedAction struct {
	ActionRequest
	args     map[string]scope.Value
	argsJSON json.RawMessage // the canonical arguments
	content  string          // the effective content digest ("" if none)
	fields   string          // digest of the action fields
}

// validActionID reports whether id is urn:uuid:<lowercase canonical UUID>
// or 16 to 64 characters of [A-Za-z0-9._~-].
func validActionID(id string) bool {
	if u, ok := strings.CutPrefix(id, "urn:uuid:"); ok {
		if len(u) != 36 {
			return false
		}
		for i := 0; i < len(u); i++ {
			c := u[i]
			switch {
			case i == 8 || i == 13 || i == 18 || i == 23:
				if c != '-' {
					return false
				}
			case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'):
			default:
				return false
			}
		}
		return true
	}
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// validArgName is the scope language's argument name:
// [A-Za-z_][A-Za-z0-9_.-]{0,63}.
func validArgName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func validSHA256Digest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func badAction(format string, args ...any) error {
	return errorf(http.StatusBadRequest, CodeBadJSON, format, args...)
}

// parseAction decodes and validates the body of POST /v1/actions
// (spec/actions.md §2). Every refusal is a 400.
func parseAction(body []byte) (*parsedAction, error) {
	var p parsedAction
	if err := decodeJSON(body, &p.ActionRequest); err != nil {
		return nil, err
	}
	in := &p.ActionRequest
	switch {
	case !validActionID(in.ID):
		return nil, badAction(`"id" must be urn:uuid:<lowercase UUID> or 16 to 64 characters of [A-Za-z0-9._~-]`)
	case in.Action == "" || len(in.Action) > scope.MaxStringLen:
		return nil, badAction(`"action" is required, at most %d bytes`, scope.MaxStringLen)
	case in.Resource == "" || len(in.Resource) > scope.MaxStringLen:
		return nil, badAction(`"resource" is required, at most %d bytes`, scope.MaxStringLen)
	case in.Credential == "" || len(in.Credential) > scope.MaxStringLen:
		return nil, badAction(`"credential" (the id of a registered delegation credential) is required`)
	case in.Counterparty != "":
		if _, err := did.ParseDID(in.Counterparty); err != nil || len(in.Counterparty) > scope.MaxStringLen {
			return nil, badAction(`"counterparty" must be an owner DID`)
		}
	}
	if in.Action == actionMessageSend && in.Counterparty == "" {
		return nil, badAction(`message/send needs a "counterparty"`)
	}
	args, canon, err := parseArgs(in.Args)
	if err != nil {
		return nil, err
	}
	p.args, p.argsJSON = args, canon
	if in.ContentDigest != "" && !validSHA256Digest(in.ContentDigest) {
		return nil, badAction(`"content_digest" must be sha256: and 64 lowercase hex digits`)
	}
	p.content = in.ContentDigest
	if in.Content != nil {
		if in.Action != actionMessageSend {
			return nil, badAction(`"content" is only for message/send`)
		}
		if len(*in.Content) > maxActionContent {
			return nil, badAction(`"content" is longer than %d bytes`, maxActionContent)
		}
		d := transparency.DigestSHA256(sha256.Sum256([]byte(*in.Content)))
		if in.ContentDigest != "" && in.ContentDigest != d {
			return nil, errorf(http.StatusBadRequest, CodeContentDigestMismatch, "content_digest is not the SHA-256 of content (%s)", d)
		}
		p.content = d
	}
	// The fields that make a decision: the same id with any of them
	// different is another action. The content counts by its digest.
	var buf [512]byte
	fb := appendActionFields(buf[:0], in.ID, in.Action, in.Resource, in.Counterparty, canon, p.content, in.Credential)
	p.fields = transparency.DigestSHA256(sha256.Sum256(fb))
	return &p, nil
}

// appendActionFields appends the JSON whose SHA-256 is an action's fields
// digest (stored with every decision and compared with a repeated id's, so
// its bytes never change): json.Marshal of
//
//	struct {
//		ID, Action, Resource, Counterparty string
//		Args                               json.RawMessage
//		Content, Credential                string
//	}
//
// written directly (TestAppendActionFieldsMatchesMarshal). args is
// parseArgs's canonical form, which json.Marshal wrote, so it is copied as
// Marshal would copy it: compact and escaped already.
func appendActionFields(dst []byte, id, action, resource, counterparty string, args json.RawMessage, content, credential string) []byte {
	dst = append(dst, `{"ID":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"Action":`...)
	dst = appendJSONString(dst, action)
	dst = append(dst, `,"Resource":`...)
	dst = appendJSONString(dst, resource)
	dst = append(dst, `,"Counterparty":`...)
	dst = appendJSONString(dst, counterparty)
	dst = append(dst, `,"Args":`...)
	if len(args) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, args...)
	}
	dst = append(dst, `,"Content":`...)
	dst = appendJSONString(dst, content)
	dst = append(dst, `,"Credential":`...)
	dst = appendJSONString(dst, credential)
	return append(dst, '}')
}

// parseArgs reads the arguments: a JSON object (duplicate names refused,
// which encoding/json would accept) of scope values, and returns them with
// their canonical encoding (names sorted, values canonical).
func parseArgs(raw json.RawMessage) (map[string]scope.Value, json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, json.RawMessage("{}"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, badAction(`"args" must be a JSON object`)
	}
	args := map[string]scope.Value{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, badAction(`"args" is not valid JSON`)
		}
		name, _ := t.(string)
		if !validArgName(name) {
			return nil, nil, badAction(`argument name %.80q is not [A-Za-z_][A-Za-z0-9_.-]{0,63}`, name)
		}
		if _, dup := args[name]; dup {
			return nil, nil, badAction(`argument %q appears twice`, name)
		}
		if len(args) == maxActionArgs {
			return nil, nil, badAction(`more than %d arguments`, maxActionArgs)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, badAction(`argument %q is not valid JSON`, name)
		}
		x, err := scope.ParseValue(v)
		if err != nil {
			return nil, nil, badAction(`argument %q: %v`, name, err)
		}
		args[name] = x
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, badAction(`"args" is not valid JSON`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, badAction(`"args": trailing data`)
	}
	canon, err := json.Marshal(args)
	if err != nil {
		return nil, nil, fmt.Errorf("encode arguments: %w", err)
	}
	return args, canon, nil
}

// verdict is the outcome of the checks: the decision, its reason text and
// code (a denial's code, violationScope for the scope evaluator's denial),
// the credential it relied on (nil if none), and for an allowed
// message/send the recipient agent.
type verdict struct {
	decision  transparency.Decision
	reason    string
	code      string
	authz     *transparency.AuthzRef
	recipient string
}

func deny(code, format string, args ...any) verdict {
	return verdict{decision: transparency.DecisionDenied, code: code, reason: code + ": " + fmt.Sprintf(format, args...)}
}

// postAction serves POST /v1/actions (spec/actions.md).
func (s *Server) postAction(w http.ResponseWriter, r *http.Request) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	p, err := parseAction(body)
	if err != nil {
		return err
	}
	agent, err := s.registry.Agent(v.DID)
	if err != nil {
		if c := registry.CodeOf(err); c == registry.CodeAgentNotFound || c == registry.CodeInvalidDID {
			return &apiError{http.StatusForbidden, CodeNotAnAgent, "the signer is not an agent bound to an owner", err}
		}
		return identityError(err)
	}
	// A request id decided before is found by the decision's Apply
	// (errActionExists below), which must look anyway, in the sequencer,
	// for two requests racing with one id (through the filter of decided
	// actions, so a new id costs no read at all).
	now := s.clock().UTC()
	vd, err := s.decideAction(r.Context(), agent, p, now)
	if err != nil {
		return err
	}
	recordJTI := func(tx *store.Tx) error { return s.auth.recordJTI(tx, v) }
	a, rec, err := s.appendDecision(r.Context(), agent, p, v.Digest, vd, now, recordJTI)
	if mailbox.CodeOf(err) == mailbox.CodeInboxFull {
		// Nothing was written: the same request is decided again as a
		// denial, with its own entry.
		vd = s.denyWith(vd, ReasonRecipientInboxFull, "the inbox of %s is full", vd.recipient)
		a, rec, err = s.appendDecision(r.Context(), agent, p, v.Digest, vd, now, recordJTI)
	}
	if errors.Is(err, errActionExists) {
		if done, err := s.replayAction(r.Context(), w, agent.DID, p); done || err != nil {
			return err
		}
		// The first request with this id is in a batch that failed or
		// is not yet readable: the client retries.
		return errorf(http.StatusConflict, CodeActionIDConflict, "a request with this id is being decided; retry")
	}
	if err != nil {
		return err
	}
	// Debug, not Info: at thousands of decisions a second a line each
	// would cost more than the decision, and each is in the log anyway.
	s.logger.Debug("action decided", "agent", agent.DID, "id", p.ID, "decision", vd.decision, "index", a.Index)
	rc, err := s.log.ReceiptFor(a)
	if err != nil {
		return fmt.Errorf("receipt for entry %d: %w", a.Index, err)
	}
	var dl *ActionDelivery
	if rec.Message != "" {
		// The decision and the message are committed: if the delivery
		// entry fails now, a retry with the same id or RecoverDeliveries
		// appends it.
		if dl, err = s.completeDelivery(r.Context(), agent.DID, p.ID); err != nil {
			return err
		}
	}
	return s.respondAction(w, p.ID, rec, rc, dl, false)
}

// appendDecision appends the action.decision entry of vd with, in its
// transaction, the decision record, the inbox delivery of an allowed
// message/send (when inboxes are on), the decision's events and extra
// (the request's jti record). A full inbox rejects the entry with the
// mailbox's inbox_full error, and an (agent, id) decided first with
// errActionExists.
func (s *Server) appendDecision(ctx context.Context, agent *registry.Agent, p *parsedAction, digest string, vd verdict, now time.Time,
	extra func(tx *store.Tx) error) (sequencer.Appended, actionRecord, error) {
	e := &transparency.Entry{
		Version: transparency.EntryVersion, Type: "action.decision", Time: now,
		Actor: agent.DID, Owner: agent.Owner, Subject: p.ID, Authz: vd.authz,
		Action: p.Action, Resource: p.Resource, Counterparty: p.Counterparty,
		Decision: vd.decision, Reason: truncateUTF8(vd.reason, scope.MaxDecisionLen), RequestDigest: digest,
	}
	rec := actionRecord{Fields: p.fields, Decision: vd.decision, Reason: e.Reason}
	deliver := vd.decision == transparency.DecisionAllowed && p.Action == actionMessageSend && vd.recipient != "" && s.mailbox != nil
	k := actionKey(agent.DID, p.ID)
	streams := []string{agent.DID, agent.Owner}
	a, err := s.log.Append(ctx, e, func(tx *store.Tx) error {
		// The filter rules out nearly every new id without a read; it
		// has every key set below, from the Apply that sets it on.
		if s.decided.MayContain(k) {
			switch _, err := tx.Get(k); {
			case err == nil:
				return errActionExists
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		rec.Index = tx.Index()
		if rec.Decision == transparency.DecisionEscalated {
			rec.Escalation = strconv.FormatUint(rec.Index, 10)
			if err := putEscalation(tx, agent.Owner, agent.DID, p, vd.recipient, rec, now); err != nil {
				return err
			}
		}
		if deliver {
			m := mailbox.Message{ID: mailbox.MessageID(agent.DID, p.ID), From: agent.DID, FromOwner: agent.Owner, To: vd.recipient,
				Action: p.Action, Resource: p.Resource, ContentDigest: p.content, DecisionIndex: rec.Index, Time: now}
			if p.Content != nil {
				m.Content = *p.Content
			}
			seq, err := s.deliver(tx, m)
			if err != nil {
				return err
			}
			rec.Message, rec.Owner, rec.Recipient, rec.RecipientOwner = m.ID, agent.Owner, vd.recipient, p.Counterparty
			rec.Seq, rec.ContentDigest = seq, p.content
			tx.Set(pendingKey(agent.DID, p.ID), nil)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		tx.Set(k, b)
		s.decided.Add(k)
		if err := s.emitDecision(tx, agent, p, rec, vd.code, now); err != nil {
			return err
		}
		return extra(tx)
	})
	s.notifyEvents(streams...)
	return a, rec, err
}

// LoadActionFilter reads the keys of every decided action into the
// in-memory filter that lets a new request id be decided without a store
// read of its absent record (store.Filter), and returns once the filter
// answers. Until then every decision reads the store, as it must; the
// server is correct without it. clawnet serve runs it in the background at
// start (about a second per few million decided actions); it returns ctx's
// error if ctx ends first. Without the identity API it does nothing.
func (s *Server) LoadActionFilter(ctx context.Context) error {
	if s.decided == nil {
		return nil
	}
	return s.decided.Load(ctx, s.auth.db)
}

// emitDecision appends the events of a decision (spec/events.md §6):
// action.decided to the agent, and to its owner escalation.opened for an
// escalation or boundary.violation for a denial of boundaryViolations.
func (s *Server) emitDecision(tx *store.Tx, agent *registry.Agent, p *parsedAction, rec actionRecord, code string, now time.Time) error {
	if err := s.emitFitted(tx, agent.DID, EventActionDecided,
		ActionDecidedEvent{ID: p.ID, Decision: rec.Decision, Reason: rec.Reason, Index: rec.Index},
		func() any {
			return ActionDecidedEvent{ID: p.ID, Decision: rec.Decision, Reason: truncateUTF8(rec.Reason, 256), Index: rec.Index}
		}); err != nil {
		return err
	}
	switch {
	case rec.Decision == transparency.DecisionEscalated:
		ev := EscalationOpenedEvent{Escalation: rec.Escalation, ID: p.ID, Agent: agent.DID, Action: p.Action, Resource: p.Resource,
			Counterparty: p.Counterparty, Args: p.argsJSON, Reason: rec.Reason, Index: rec.Index, Deadline: now.Add(s.escalationTimeout)}
		return s.emitFitted(tx, agent.Owner, EventEscalationOpened, ev, func() any {
			ev.Args, ev.ArgsOmitted = nil, true
			ev.Action, ev.Resource, ev.Reason = truncateUTF8(ev.Action, 256), truncateUTF8(ev.Resource, 256), truncateUTF8(ev.Reason, 256)
			return ev
		})
	case rec.Decision == transparency.DecisionDenied && boundaryViolations[code]:
		ev := BoundaryViolationEvent{ID: p.ID, Agent: agent.DID, Action: p.Action, Resource: p.Resource,
			Counterparty: p.Counterparty, Code: code, Reason: rec.Reason, Index: rec.Index}
		return s.emitFitted(tx, agent.Owner, EventBoundaryViolation, ev, func() any {
			ev.Action, ev.Resource, ev.Reason = truncateUTF8(ev.Action, 256), truncateUTF8(ev.Resource, 256), truncateUTF8(ev.Reason, 256)
			return ev
		})
	}
	return nil
}

// emitFitted emits data to stream, or small() when data's encoding is
// larger than an event may be: the fields a client can read in full from
// the log or the actions API are shortened rather than the entry rejected.
// A recipient whose DID cannot name a stream (longer than
// events.MaxStreamLen) gets no event.
func (s *Server) emitFitted(tx *store.Tx, stream, typ string, data any, small func() any) error {
	if s.events == nil || !events.ValidStream(stream) {
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: encode data: %w", typ, err)
	}
	if len(b) > events.MaxData {
		return s.emit(tx, stream, typ, small())
	}
	return s.emit(tx, stream, typ, json.RawMessage(b))
}

// deliveryEntry is the message.delivered entry of rec, the decision of
// agent (spec/actions.md §7).
func deliveryEntry(agent string, rec *actionRecord, now time.Time) *transparency.Entry {
	return &transparency.Entry{
		Version: transparency.EntryVersion, Type: "message.delivered", Time: now,
		Actor: agent, Owner: rec.Owner, Subject: rec.Message, Action: actionMessageSend,
		Resource: rec.Recipient, Counterparty: rec.RecipientOwner, Decision: transparency.DecisionAllowed,
		Reason:        "delivered: action.decision entry " + strconv.FormatUint(rec.Index, 10) + ", inbox seq " + strconv.FormatUint(rec.Seq, 10),
		RequestDigest: rec.ContentDigest,
	}
}

// completeDelivery appends the message.delivered entry of the decision
// (agent, id) unless it was appended before, records its index in the
// decision record in the same transaction, emits message.received to the
// recipient, and returns the delivery with a receipt of that entry.
func (s *Server) completeDelivery(ctx context.Context, agent, id string) (*ActionDelivery, error) {
	rec, found, err := s.actionRecord(agent, id)
	if err != nil {
		return nil, err
	}
	if !found || rec.Message == "" {
		return nil, fmt.Errorf("delivery of action %s of %s: no delivered message", id, agent)
	}
	if rec.DeliveryIndex != 0 {
		return s.deliveryOf(rec, nil)
	}
	k := actionKey(agent, id)
	a, err := s.log.Append(ctx, deliveryEntry(agent, rec, s.clock().UTC()), func(tx *store.Tx) error {
		b, err := tx.Get(k)
		if err != nil {
			return err
		}
		var cur actionRecord
		if err := json.Unmarshal(b, &cur); err != nil {
			return fmt.Errorf("decode action %s of %s: %w", id, agent, err)
		}
		if cur.DeliveryIndex != 0 {
			return errDelivered
		}
		cur.DeliveryIndex = tx.Index()
		if b, err = json.Marshal(cur); err != nil {
			return err
		}
		tx.Set(k, b)
		tx.Delete(pendingKey(agent, id))
		ev := MessageReceivedEvent{Message: cur.Message, From: agent, FromOwner: cur.Owner, Seq: cur.Seq, Index: cur.DeliveryIndex}
		return s.emitFitted(tx, cur.Recipient, EventMessageReceived, ev, func() any { return ev })
	})
	s.notifyEvents(rec.Recipient)
	if errors.Is(err, errDelivered) {
		if rec, _, err = s.actionRecord(agent, id); err != nil {
			return nil, err
		}
		return s.deliveryOf(rec, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("delivery of action %s of %s: %w", id, agent, err)
	}
	s.logger.Info("message delivered", "agent", agent, "id", id, "message", rec.Message, "recipient", rec.Recipient, "index", a.Index)
	rec.DeliveryIndex = a.Index
	return s.deliveryOf(rec, &a)
}

// deliveryOf is the delivery of rec with a receipt of its entry: of a,
// just appended, or a fresh one. nil when rec delivered nothing or its
// delivery entry is not yet appended.
func (s *Server) deliveryOf(rec *actionRecord, a *sequencer.Appended) (*ActionDelivery, error) {
	if rec.Message == "" || rec.DeliveryIndex == 0 {
		return nil, nil
	}
	var rb json.RawMessage
	var err error
	if a != nil {
		rb, err = s.receiptJSON(*a)
	} else {
		rb, err = s.receiptAt(rec.DeliveryIndex)
	}
	if err != nil {
		return nil, err
	}
	return &ActionDelivery{Message: rec.Message, Recipient: rec.Recipient, Index: rec.DeliveryIndex, Receipt: rb}, nil
}

// receiptJSON is the receipt, in the receipt file format (Receipt.Marshal),
// of an entry this server just appended, for its answer.
func (s *Server) receiptJSON(a sequencer.Appended) (json.RawMessage, error) {
	rc, err := s.log.ReceiptFor(a)
	if err != nil {
		return nil, fmt.Errorf("receipt for entry %d: %w", a.Index, err)
	}
	return marshalReceipt(rc, a.Index)
}

// receiptAt is receiptJSON for a committed entry found by its index.
func (s *Server) receiptAt(index uint64) (json.RawMessage, error) {
	rc, err := s.log.Receipt(index)
	if err != nil {
		return nil, fmt.Errorf("receipt for entry %d: %w", index, err)
	}
	return marshalReceipt(rc, index)
}

func marshalReceipt(rc *transparency.Receipt, index uint64) (json.RawMessage, error) {
	rb, err := rc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("receipt for entry %d: encode: %w", index, err)
	}
	return rb, nil
}

// keyPair is the two parts of a key "<prefix><a>/<b>" (a may hold '/',
// b may not).
type keyPair struct{ a, b string }

// scanPairKeys returns the parts of every key under prefix, which has the
// form "<prefix><a>/<b>": the pending deliveries (agent, id) and the open
// escalations (owner, id).
func scanPairKeys(db *store.DB, prefix string) ([]keyPair, error) {
	var out []keyPair
	err := db.Scan([]byte(prefix), store.PrefixEnd([]byte(prefix)), func(k, _ []byte) (bool, error) {
		rest := string(k[len(prefix):])
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			return false, fmt.Errorf("malformed key %q under %q", k, prefix)
		}
		out = append(out, keyPair{rest[:i], rest[i+1:]})
		return true, nil
	})
	return out, err
}

// RecoverDeliveries appends the message.delivered entries that a crash
// between a decision and its delivery entry left missing (spec/actions.md
// §7.3) and returns how many it appended. Call it at startup, before
// serving; it is idempotent, and safe while serving (a retry racing with it
// appends nothing twice). Without inboxes it does nothing.
func (s *Server) RecoverDeliveries(ctx context.Context) (int, error) {
	if s.auth == nil || s.mailbox == nil {
		return 0, nil
	}
	todo, err := scanPairKeys(s.auth.db, pendingPrefix)
	if err != nil {
		return 0, fmt.Errorf("recover deliveries: %w", err)
	}
	n := 0
	for _, p := range todo {
		before, _, err := s.actionRecord(p.a, p.b)
		if err != nil {
			return n, fmt.Errorf("recover deliveries: %w", err)
		}
		if _, err := s.completeDelivery(ctx, p.a, p.b); err != nil {
			return n, fmt.Errorf("recover deliveries: %w", err)
		}
		if before != nil && before.DeliveryIndex == 0 {
			n++
		}
	}
	if n > 0 {
		s.logger.Info("recovered deliveries", "count", n)
	}
	return n, nil
}

// replayAction answers a request whose (agent, id) was decided before:
// the stored decision if the fields are the same, action_id_conflict
// otherwise. done is false when there is no stored decision. A delivered
// message whose delivery entry is missing gets it now.
func (s *Server) replayAction(ctx context.Context, w http.ResponseWriter, agent string, p *parsedAction) (done bool, err error) {
	rec, found, err := s.actionRecord(agent, p.ID)
	if err != nil || !found {
		return false, err
	}
	if rec.Fields != p.fields {
		return true, errorf(http.StatusConflict, CodeActionIDConflict, "request id %s was already used by this agent for another action", p.ID)
	}
	rc, err := s.log.Receipt(rec.Index)
	if err != nil {
		return true, fmt.Errorf("receipt for entry %d: %w", rec.Index, err)
	}
	var dl *ActionDelivery
	if rec.Message != "" {
		if dl, err = s.completeDelivery(ctx, agent, p.ID); err != nil {
			return true, err
		}
	}
	return true, s.respondAction(w, p.ID, *rec, rc, dl, true)
}

func (s *Server) actionRecord(agent, id string) (*actionRecord, bool, error) {
	b, err := s.auth.db.Get(actionKey(agent, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read action %s of %s: %w", id, agent, err)
	}
	var rec actionRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, false, fmt.Errorf("decode action %s of %s: %w", id, agent, err)
	}
	return &rec, true, nil
}

// respondAction writes the answer: 202 for an escalation, 200 otherwise.
func (s *Server) respondAction(w http.ResponseWriter, id string, rec actionRecord, rc *transparency.Receipt, dl *ActionDelivery, replay bool) error {
	st := http.StatusOK
	if rec.Decision == transparency.DecisionEscalated {
		st = http.StatusAccepted
	}
	h := w.Header()
	if replay {
		h["Idempotent-Replay"] = idempotentReplay
	}
	h["Location"] = []string{"/log/v1/entries/" + strconv.FormatUint(rec.Index, 10)}
	h["Cache-Control"] = noStore
	a := answerOf(id, &rec, rc, dl)
	b, err := appendActionAnswer(make([]byte, 0, actionAnswerSize(&a)), &a)
	if err != nil {
		// Only a delivery's receipt can fail to encode: json.Marshal
		// then answers as it always did.
		return respondJSON(w, st, a)
	}
	writeJSONBytes(w, st, b)
	return nil
}

// answerOf is the answer for the decision rec of request id with its
// receipt rc and delivery dl.
func answerOf(id string, rec *actionRecord, rc *transparency.Receipt, dl *ActionDelivery) actionAnswer {
	if rc.InclusionProof == nil {
		rc.InclusionProof = []transparency.Hash{} // as Receipt.Marshal writes it
	}
	return actionAnswer{ID: id, Decision: rec.Decision, Reason: rec.Reason, Index: rec.Index,
		Receipt: rc, Escalate: rec.Escalation, Delivery: dl, Answer: rec.Answer, AnswerIndex: rec.AnswerIndex}
}

// Header values of every action answer, set without Header.Set's
// canonicalization and allocation; net/http only reads them.
var (
	idempotentReplay = []string{"true"}
	noStore          = []string{"no-store"}
)

// actionAnswer is ActionResponse with the receipt as a struct, so that an
// answer is encoded in one pass: the bytes are those of ActionResponse
// with the receipt's Marshal, which encoding/json compacts, without the
// indented copy and its second scan (TestActionAnswerEncoding). The
// fields are ActionResponse's, in its order.
type actionAnswer struct {
	ID          string                `json:"id"`
	Decision    transparency.Decision `json:"decision"`
	Reason      string                `json:"reason"`
	Index       uint64                `json:"index"`
	Receipt     *transparency.Receipt `json:"receipt"`
	Escalate    string                `json:"escalation,omitempty"`
	Delivery    *ActionDelivery       `json:"delivery,omitempty"`
	Answer      transparency.Decision `json:"answer,omitempty"`
	AnswerIndex uint64                `json:"answer_index,omitempty"`
}

// decideAction runs the checks of spec/actions.md §3 after the signature
// and the agent lookup, in order; the first failure decides. An error is
// an operational failure (nothing is logged).
func (s *Server) decideAction(ctx context.Context, agent *registry.Agent, p *parsedAction, now time.Time) (verdict, error) {
	if r := bindingRefusal(agent, now); r != nil {
		return deny(r.code, "%s", r.msg), nil
	}
	if agent.Role == registry.RoleManager && p.Counterparty != "" && p.Counterparty != agent.Owner {
		return deny(ReasonManagerIsolation, "a Manager Agent acts only within its owner's agent system"), nil
	}
	var contact *registry.Contact
	if p.Counterparty != "" {
		var err error
		if contact, err = s.contactOf(agent.Owner, p.Counterparty); err != nil {
			return verdict{}, err
		}
	}
	req := scope.Request{Action: p.Action, Resource: p.Resource, Counterparty: p.Counterparty,
		CounterpartyIsContact: contact != nil, Args: p.args, Time: now}
	d, rec, err := s.checkDelegation(ctx, agent.DID, p.Credential, req, now)
	var vd verdict
	if rec != nil && rec.Subject == agent.DID {
		vd.authz = &transparency.AuthzRef{Credential: rec.ID, Digest: rec.Digest}
	}
	if err != nil {
		var ge *grant.Error
		if !errors.As(err, &ge) {
			return verdict{}, err
		}
		v := deny(string(ge.Code), "%s", ge.Message)
		v.authz = vd.authz
		return v, nil
	}
	vd.reason = d.String()
	switch d.Effect {
	case scope.Allow:
		vd.decision = transparency.DecisionAllowed
	case scope.Escalate:
		vd.decision = transparency.DecisionEscalated
	default:
		vd.decision, vd.code = transparency.DecisionDenied, violationScope
		return vd, nil
	}
	// What follows the scope decision cannot be cured by the owner's
	// approval, so it denies an escalation too (and an approval checks it
	// again: stillPossible).
	if p.Counterparty != "" {
		recipient, r, err := s.counterpartyRefusal(ctx, agent, contact, p.Counterparty, p.Action, p.Resource, now)
		if err != nil {
			return verdict{}, err
		}
		if r != nil {
			return s.denyWith(vd, r.code, "%s", r.msg), nil
		}
		vd.recipient = recipient
	}
	return vd, nil
}

// checkRefusal is why a check of spec/actions.md §3 denies: a reason code
// and its message.
type checkRefusal struct{ code, msg string }

func refuse(code, format string, args ...any) *checkRefusal {
	return &checkRefusal{code, fmt.Sprintf(format, args...)}
}

// bindingRefusal is step 5: the agent was unbound, or its binding expired.
func bindingRefusal(agent *registry.Agent, now time.Time) *checkRefusal {
	switch {
	case agent.Revoked:
		return refuse(ReasonAgentUnbound, "agent %s was unbound at entry %d", agent.DID, agent.UnboundIndex)
	case !agent.Expires.IsZero() && !now.Before(agent.Expires):
		return refuse(ReasonAgentBindingExpired, "the binding of agent %s expired at %s", agent.DID, agent.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// counterpartyRefusal is step 9 for agent acting toward counterparty,
// whose live contact with the agent's owner is contact (nil: none): the
// contact, the Identity Agent the counterparty maps to the owner, and for
// a message/send that agent's acceptance; it returns that agent as the
// recipient of a message/send.
func (s *Server) counterpartyRefusal(ctx context.Context, agent *registry.Agent, contact *registry.Contact,
	counterparty, action, resource string, now time.Time) (recipient string, r *checkRefusal, err error) {
	if contact == nil {
		return "", refuse(ReasonNotAContact, "%s is not a contact of %s", counterparty, agent.Owner), nil
	}
	ra, err := s.registry.Agent(contact.TheirAgent)
	if err != nil && registry.CodeOf(err) == "" {
		return "", nil, err
	}
	if err != nil || ra.Revoked || ra.Role != registry.RoleIdentity || (!ra.Expires.IsZero() && !now.Before(ra.Expires)) {
		return "", refuse(ReasonCounterpartyAgentUnavailable, "the Identity Agent %s facing %s is not active", contact.TheirAgent, agent.Owner), nil
	}
	if action != actionMessageSend {
		return "", nil, nil
	}
	ok, err := s.recipientAccepts(ctx, ra, agent.Owner, resource, now)
	switch {
	case err != nil:
		return "", nil, err
	case !ok:
		return "", refuse(ReasonRecipientRefuses, "no delegation of %s allows message/receive from %s", ra.DID, agent.Owner), nil
	}
	return ra.DID, nil, nil
}

// denyWith turns vd into a denial with code, keeping its authz.
func (s *Server) denyWith(vd verdict, code, format string, args ...any) verdict {
	d := deny(code, format, args...)
	d.authz = vd.authz
	return d
}

// contactOf returns owner's live contact with other, or nil.
func (s *Server) contactOf(owner, other string) (*registry.Contact, error) {
	cs, err := s.registry.Contacts(owner)
	if err != nil {
		return nil, fmt.Errorf("contacts of %s: %w", owner, err)
	}
	i := slices.IndexFunc(cs, func(c registry.Contact) bool { return c.Owner == other })
	if i < 0 {
		return nil, nil
	}
	return &cs[i], nil
}

// recipientAccepts reports whether the recipient agent accepts a message
// from the sender owner: its credentials, newest registered first, are
// checked as the sender's is (checkDelegation) against message/receive on
// the same resource with the sender owner as a live contact and no
// arguments, and the first that allows decides (spec/actions.md §4).
// Credentials that are revoked, expired or whose scopes do not allow it
// are passed over; an escalation is not an acceptance.
func (s *Server) recipientAccepts(ctx context.Context, ra *registry.Agent, sender, resource string, now time.Time) (bool, error) {
	recs, err := s.grants.BySubject(ra.DID)
	if err != nil {
		return false, fmt.Errorf("credentials of %s: %w", ra.DID, err)
	}
	slices.SortFunc(recs, func(a, b grant.Record) int {
		switch {
		case a.RegisteredIndex > b.RegisteredIndex:
			return -1
		case a.RegisteredIndex < b.RegisteredIndex:
			return 1
		}
		return 0
	})
	req := scope.Request{Action: actionMessageReceive, Resource: resource, Counterparty: sender, CounterpartyIsContact: true, Time: now}
	for i := range recs {
		d, _, err := s.checkDelegation(ctx, ra.DID, recs[i].ID, req, now)
		if err != nil {
			if grant.CodeOf(err) != "" {
				continue
			}
			return false, err
		}
		if d.Effect == scope.Allow {
			return true, nil
		}
	}
	return false, nil
}

// getAction serves GET /v1/actions/{id}: signed by the agent, or by its
// owner with ?agent=<did>.
func (s *Server) getAction(w http.ResponseWriter, r *http.Request) error {
	v, _, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for k := range q {
		if k != "agent" {
			return errorf(http.StatusBadRequest, CodeBadRequest, "unknown parameter %.40q", k)
		}
	}
	if len(q["agent"]) > 1 {
		return errorf(http.StatusBadRequest, CodeBadRequest, "agent appears more than once")
	}
	agent := v.DID
	if a := q.Get("agent"); a != "" && a != v.DID {
		ag, err := s.registry.Agent(a)
		if err != nil && registry.CodeOf(err) == "" {
			return err
		}
		if err != nil || ag.Owner != v.DID {
			return errorf(http.StatusForbidden, CodeActionForbidden, "only the agent and its owner read its decisions")
		}
		agent = a
	}
	id := r.PathValue("id")
	if !validActionID(id) {
		return errorf(http.StatusNotFound, CodeNotFound, "no such action")
	}
	rec, found, err := s.actionRecord(agent, id)
	if err != nil {
		return err
	}
	if !found {
		return errorf(http.StatusNotFound, CodeNotFound, "no such action")
	}
	rb, err := s.receiptAt(rec.Index)
	if err != nil {
		return err
	}
	dl, err := s.deliveryOf(rec, nil)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, ActionResponse{ID: id, Decision: rec.Decision, Reason: rec.Reason,
		Index: rec.Index, Receipt: rb, Escalate: rec.Escalation, Delivery: dl, Answer: rec.Answer, AnswerIndex: rec.AnswerIndex})
}

// truncateUTF8 cuts s to at most n bytes at a character boundary, ending
// it with "…" when it cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n - len("…")
	for k > 0 && !utf8.RuneStart(s[k]) {
		k--
	}
	return s[:k] + "…"
}
