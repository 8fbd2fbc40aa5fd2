package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/clawnet/ledger/did/registry"
	"github.com/clawnet/ledger/did/request"
	"github.com/clawnet/ledger/server/mailbox"
	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
	"github.com/clawnet/ledger/transparency/store"
	"github.com/clawnet/ledger/vc/delegation"
	"github.com/clawnet/ledger/vc/grant"
)

// Escalations (spec/escalations.md): an escalated action waits for its
// owner's answer. The escalated decision's transaction stores an
// escalation record under its owner, so the owner can list what waits for
// it after a restart; the answer (approve, deny) or the timeout is one
// escalation.answered entry whose Apply re-checks that the escalation is
// still pending, so of two concurrent answers exactly one is logged.

func (s *Server) escalationRoutes() []route {
	return []route{
		{"GET", "/v1/escalations", s.listEscalations},
		{"POST", "/v1/escalations/{id}/answer", s.answerEscalation},
	}
}

// Codes of the escalation API (spec/escalations.md §5).
const (
	CodeEscalationNotPending = "escalation_not_pending" // 409: already answered or timed out
	CodeEscalationExpired    = "escalation_expired"     // 410: the deadline passed before the answer
	// CodeEscalationStale refuses an approval whose action can no longer
	// be carried out as decided (409; the escalation stays pending): the
	// agent was unbound or its binding expired, or the counterparty is no
	// longer a contact, its Identity Agent changed or is not active, or
	// that agent no longer accepts the message.
	CodeEscalationStale = "escalation_stale"
	// CodeRecipientInboxFull refuses an approval whose message the
	// recipient's inbox cannot take now (409; the escalation stays
	// pending).
	CodeRecipientInboxFull = ReasonRecipientInboxFull
	// CodeWidenSubjectMismatch refuses a widening credential whose
	// subject is not the escalated action's agent (422).
	CodeWidenSubjectMismatch = "widen_subject_mismatch"
)

// escalationCodes are the codes above; spec/openapi.yaml documents each.
var escalationCodes = []string{CodeEscalationNotPending, CodeEscalationExpired, CodeRecipientInboxFull, CodeEscalationStale, CodeWidenSubjectMismatch}

// EventEscalationAnswered is sent to the acting agent and its owner.
const EventEscalationAnswered = "escalation.answered"

// States of an escalation.
const (
	EscalationPending  = "pending"
	EscalationApproved = "approved"
	EscalationDenied   = "denied"
	EscalationTimedOut = "timed_out"
)

// DefaultEscalationTimeout is how long an escalation waits for its owner's
// answer unless IdentityConfig.EscalationTimeout says otherwise.
const DefaultEscalationTimeout = escalationWindow

const escalationPrefix = "s/escalation/"

func escalationKey(owner, id string) []byte { return []byte(escalationPrefix + owner + "/" + id) }

// openPrefix holds one empty record per pending escalation,
// "s/escalation-open/<owner>/<id>", written with the escalation and deleted
// when it closes, so that ExpireEscalations reads only the pending ones.
const openPrefix = "s/escalation-open/"

func openKey(owner, id string) []byte { return []byte(openPrefix + owner + "/" + id) }

// escalationRecord is the stored escalation under
// s/escalation/<owner>/<id>. Content is the held message's text, kept
// until the answer so that an approval can deliver it, then dropped.
type escalationRecord struct {
	Agent         string    `json:"agent"`
	ID            string    `json:"id"`
	Index         uint64    `json:"index"`
	Action        string    `json:"action"`
	Resource      string    `json:"resource"`
	Counterparty  string    `json:"counterparty,omitempty"`
	Recipient     string    `json:"recipient,omitempty"`
	Content       *string   `json:"content,omitempty"`
	ContentDigest string    `json:"content_digest,omitempty"`
	Time          time.Time `json:"time"`
	// Deadline was written by earlier versions (as Time + 30 minutes);
	// the deadline is Server.deadline's, from Time and the configured
	// timeout.
	Deadline    time.Time `json:"deadline,omitzero"`
	State       string    `json:"state"`
	AnswerIndex uint64    `json:"answer_index,omitempty"`
}

// Escalation is one escalation as GET /v1/escalations lists it.
type Escalation struct {
	Escalation   string    `json:"escalation"`
	ID           string    `json:"id"`
	Agent        string    `json:"agent"`
	Action       string    `json:"action"`
	Resource     string    `json:"resource"`
	Counterparty string    `json:"counterparty,omitempty"`
	Index        uint64    `json:"index"`
	Deadline     time.Time `json:"deadline"`
	State        string    `json:"state"`
	AnswerIndex  uint64    `json:"answer_index,omitempty"`
}

// EscalationAnsweredEvent is the data of escalation.answered.
type EscalationAnsweredEvent struct {
	Escalation string                `json:"escalation"`
	ID         string                `json:"id"`
	Agent      string                `json:"agent"`
	Decision   transparency.Decision `json:"decision"`
	Reason     string                `json:"reason"`
	Index      uint64                `json:"index"`
}

// EscalationAnswer is the answer to POST /v1/escalations/{id}/answer.
type EscalationAnswer struct {
	Escalation string                `json:"escalation"`
	ID         string                `json:"id"`
	Agent      string                `json:"agent"`
	Decision   transparency.Decision `json:"decision"`
	Reason     string                `json:"reason"`
	Index      uint64                `json:"index"`
	Receipt    json.RawMessage       `json:"receipt"`
	Delivery   *ActionDelivery       `json:"delivery,omitempty"`
	// Widened is the delegation registered by "approve and widen".
	Widened *WidenedCredential `json:"widened,omitempty"`
}

// WidenedCredential is the delegation credential an "approve and widen"
// answer registered: its id and its vc.granted entry with the receipt.
type WidenedCredential struct {
	Credential string          `json:"credential"`
	Index      uint64          `json:"index"`
	Receipt    json.RawMessage `json:"receipt"`
}

// maxListedAnswered bounds the answered escalations GET /v1/escalations
// lists after the pending ones: the newest.
const maxListedAnswered = 100

// putEscalation stores the escalation of an escalated decision, in the
// decision's transaction.
func putEscalation(tx *store.Tx, owner, agent string, p *parsedAction, recipient string, rec actionRecord, now time.Time) error {
	e := escalationRecord{Agent: agent, ID: p.ID, Index: rec.Index, Action: p.Action, Resource: p.Resource,
		Counterparty: p.Counterparty, Recipient: recipient, Content: p.Content, ContentDigest: p.content,
		Time: now, State: EscalationPending}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode escalation %s: %w", rec.Escalation, err)
	}
	tx.Set(escalationKey(owner, rec.Escalation), b)
	tx.Set(openKey(owner, rec.Escalation), nil)
	return nil
}

// deadline is when escalation e times out: its decision time plus the
// server's escalation timeout (spec/escalations.md §1). It is computed,
// not stored, so that the configured timeout applies to every pending
// escalation, including those decided before a restart.
func (s *Server) deadline(e escalationRecord) time.Time {
	return e.Time.Add(s.escalationTimeout)
}

// escalationsOf returns the escalation records of owner.
func (s *Server) escalationsOf(owner string) ([]escalationRecord, error) {
	start := []byte(escalationPrefix + owner + "/")
	var out []escalationRecord
	err := s.auth.db.Scan(start, store.PrefixEnd(start), func(k, v []byte) (bool, error) {
		var e escalationRecord
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("decode escalation %q: %w", k, err)
		}
		out = append(out, e)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read escalations of %s: %w", owner, err)
	}
	return out, nil
}

// listEscalations serves GET /v1/escalations, signed by an owner: its
// pending escalations, oldest first, then its newest answered ones.
func (s *Server) listEscalations(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) != 0 {
		return errorf(http.StatusBadRequest, CodeBadRequest, "GET /v1/escalations takes no parameters")
	}
	owner, err := s.owner(w, r)
	if err != nil {
		return err
	}
	recs, err := s.escalationsOf(owner)
	if err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b escalationRecord) int {
		ap, bp := a.State == EscalationPending, b.State == EscalationPending
		switch {
		case ap != bp:
			if ap {
				return -1
			}
			return 1
		case ap:
			return cmpUint(a.Index, b.Index)
		}
		return cmpUint(b.Index, a.Index)
	})
	list := []Escalation{}
	answered := 0
	for _, e := range recs {
		if e.State != EscalationPending {
			if answered == maxListedAnswered {
				break
			}
			answered++
		}
		list = append(list, Escalation{Escalation: strconv.FormatUint(e.Index, 10), ID: e.ID, Agent: e.Agent,
			Action: e.Action, Resource: e.Resource, Counterparty: e.Counterparty, Index: e.Index,
			Deadline: s.deadline(e), State: e.State, AnswerIndex: e.AnswerIndex})
	}
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, struct {
		Owner       string       `json:"owner"`
		Escalations []Escalation `json:"escalations"`
	}{owner, list})
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// answerEscalation serves POST /v1/escalations/{id}/answer, signed by the
// owner of the escalated action's agent.
func (s *Server) answerEscalation(w http.ResponseWriter, r *http.Request) error {
	v, body, err := s.authenticated(w, r)
	if err != nil {
		return err
	}
	var in struct {
		Decision string `json:"decision"`
		Widen    *struct {
			Credential json.RawMessage `json:"credential"`
		} `json:"widen,omitempty"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if in.Widen != nil {
		if c := bytes.TrimSpace(in.Widen.Credential); in.Decision != "approve" || len(c) == 0 || bytes.Equal(c, []byte("null")) {
			return errorf(http.StatusBadRequest, CodeBadJSON, `"widen" goes with "approve" and needs a "credential"`)
		}
	}
	var state string
	switch in.Decision {
	case "approve":
		state = EscalationApproved
	case "deny":
		state = EscalationDenied
	default:
		return errorf(http.StatusBadRequest, CodeBadJSON, `"decision" must be "approve" or "deny"`)
	}
	id := r.PathValue("id")
	if n, err := strconv.ParseUint(id, 10, 64); err != nil || strconv.FormatUint(n, 10) != id {
		return errorf(http.StatusNotFound, CodeNotFound, "no such escalation")
	}
	// Another owner's escalation is not found: its key is under the
	// signer's DID.
	b, err := s.auth.db.Get(escalationKey(v.DID, id))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "no such escalation")
	}
	if err != nil {
		return fmt.Errorf("read escalation %s: %w", id, err)
	}
	var e escalationRecord
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("decode escalation %s: %w", id, err)
	}
	now := s.clock().UTC()
	if state == EscalationApproved && e.State == EscalationPending {
		if err := s.stillPossible(r.Context(), e, now); err != nil {
			return err
		}
	}
	var widened *WidenedCredential
	var authz *transparency.AuthzRef
	if in.Widen != nil {
		// Refuse before registering anything when the answer would be
		// refused; the answer's Apply checks again.
		switch {
		case e.State != EscalationPending:
			return errorf(http.StatusConflict, CodeEscalationNotPending, "escalation %s is %s", id, e.State)
		case !now.Before(s.deadline(e)):
			return errorf(http.StatusGone, CodeEscalationExpired, "escalation %s expired at %s", id, s.deadline(e).Format(time.RFC3339))
		}
		if widened, authz, err = s.widen(r, v, e, in.Widen.Credential, now); err != nil {
			return err
		}
	}
	a, dl, err := s.closeEscalationAuthz(r.Context(), v.DID, v.DID, id, e, state, v.Digest, now, authz,
		func(tx *store.Tx) error { return s.auth.recordJTI(tx, v) })
	if err != nil {
		return err
	}
	rb, err := s.receiptJSON(a)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/log/v1/entries/"+strconv.FormatUint(a.Index, 10))
	w.Header().Set("Cache-Control", "no-store")
	return respondJSON(w, http.StatusOK, EscalationAnswer{Escalation: id, ID: e.ID, Agent: e.Agent,
		Decision: answerDecision(state), Reason: answerReason(state, authz), Index: a.Index, Receipt: rb, Delivery: dl, Widened: widened})
}

// widen registers the delegation credential of an "approve and widen"
// answer through the grant registration's rules (spec/grants.md §2): its
// own vc.granted entry, appended before the answer. Its subject must be
// the escalated action's agent.
func (s *Server) widen(r *http.Request, v *request.Verified, e escalationRecord, raw json.RawMessage, now time.Time) (*WidenedCredential, *transparency.AuthzRef, error) {
	if s.grants == nil || s.status == nil {
		return nil, nil, errorf(http.StatusBadRequest, CodeBadJSON, "this server does not register delegations")
	}
	vc, err := delegation.Verify(r.Context(), raw, delegation.VerifyOptions{Resolve: s.resolveDocument, Now: now})
	if err != nil {
		return nil, nil, grantError(err)
	}
	if vc.Subject != e.Agent {
		return nil, nil, errorf(http.StatusUnprocessableEntity, CodeWidenSubjectMismatch,
			"the widening credential is for %s, the escalated action is %s's", vc.Subject, e.Agent)
	}
	rec, err := s.checkGrant(vc, v.DID, now)
	if err != nil {
		return nil, nil, grantError(err)
	}
	op, err := s.grants.Register(grant.Request{Signer: v.DID, KID: v.KID, Digest: v.Digest, Time: now}, *rec)
	if err != nil {
		return nil, nil, grantError(err)
	}
	a, err := s.log.Append(r.Context(), op.Entry, op.Apply)
	s.grants.Committed(op)
	if err != nil {
		return nil, nil, grantError(err)
	}
	rb, err := s.receiptJSON(a)
	if err != nil {
		return nil, nil, err
	}
	s.logger.Info("escalation widened", "credential", rec.ID, "index", a.Index, "owner", v.DID)
	return &WidenedCredential{Credential: rec.ID, Index: a.Index, Receipt: rb}, &transparency.AuthzRef{Credential: rec.ID, Digest: rec.Digest}, nil
}

func answerDecision(state string) transparency.Decision {
	switch state {
	case EscalationApproved:
		return transparency.DecisionApproved
	case EscalationDenied:
		return transparency.DecisionDenied
	}
	return transparency.DecisionTimedOut
}

func answerReason(state string, widened *transparency.AuthzRef) string {
	switch {
	case state == EscalationApproved && widened != nil:
		return "approved by the owner, scope widened by credential " + widened.Credential
	case state == EscalationApproved:
		return "approved once by the owner"
	case state == EscalationDenied:
		return "denied by the owner"
	}
	return "timed out: no answer by the owner before the deadline"
}

// errNotPending is returned by an expiry's Apply when the escalation was
// answered first.
var errNotPending = errors.New("escalation not pending")

// closeEscalation appends the escalation.answered entry that moves the
// escalation id of owner from pending to state, with, in its transaction,
// the escalation and action records, the events, the delivery of an
// approved message/send and extra. actor is "" for a timeout. The Apply
// refuses an escalation no longer pending (escalation_not_pending) and an
// answer at or after the deadline (escalation_expired).
func (s *Server) closeEscalation(ctx context.Context, owner, actor, id string, e escalationRecord, state, digest string, now time.Time,
	extra func(tx *store.Tx) error) (a sequencer.Appended, dl *ActionDelivery, err error) {
	return s.closeEscalationAuthz(ctx, owner, actor, id, e, state, digest, now, nil, extra)
}

// closeEscalationAuthz is closeEscalation with the widening credential of
// an "approve and widen" answer (nil if none) as the entry's authz.
func (s *Server) closeEscalationAuthz(ctx context.Context, owner, actor, id string, e escalationRecord, state, digest string, now time.Time,
	authz *transparency.AuthzRef, extra func(tx *store.Tx) error) (a sequencer.Appended, dl *ActionDelivery, err error) {
	ent := &transparency.Entry{
		Version: transparency.EntryVersion, Type: "escalation.answered", Time: now,
		Actor: actor, Owner: owner, Subject: id, Authz: authz, Action: e.Action, Resource: e.Resource, Counterparty: e.Counterparty,
		Decision: answerDecision(state), Reason: answerReason(state, authz), RequestDigest: digest,
	}
	ek, ak := escalationKey(owner, id), actionKey(e.Agent, e.ID)
	delivered := false
	a, err = s.log.Append(ctx, ent, func(tx *store.Tx) error {
		b, err := tx.Get(ek)
		if err != nil {
			return err
		}
		var cur escalationRecord
		if err := json.Unmarshal(b, &cur); err != nil {
			return fmt.Errorf("decode escalation %s: %w", id, err)
		}
		if cur.State != EscalationPending {
			if state == EscalationTimedOut {
				return errNotPending
			}
			return errorf(http.StatusConflict, CodeEscalationNotPending, "escalation %s is %s", id, cur.State)
		}
		if state != EscalationTimedOut && !now.Before(s.deadline(cur)) {
			return errorf(http.StatusGone, CodeEscalationExpired, "escalation %s expired at %s", id, s.deadline(cur).Format(time.RFC3339))
		}
		cur.State, cur.AnswerIndex, cur.Content = state, tx.Index(), nil
		if b, err = json.Marshal(cur); err != nil {
			return err
		}
		tx.Set(ek, b)
		tx.Delete(openKey(owner, id))
		if b, err = tx.Get(ak); err != nil {
			return fmt.Errorf("read action %s of %s: %w", e.ID, e.Agent, err)
		}
		var rec actionRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("decode action %s of %s: %w", e.ID, e.Agent, err)
		}
		rec.Answer, rec.AnswerIndex = answerDecision(state), tx.Index()
		if state == EscalationApproved && e.Action == actionMessageSend && e.Recipient != "" && s.mailbox != nil {
			m := mailbox.Message{ID: mailbox.MessageID(e.Agent, e.ID), From: e.Agent, FromOwner: owner, To: e.Recipient,
				Action: e.Action, Resource: e.Resource, ContentDigest: e.ContentDigest, DecisionIndex: rec.Index, Time: now}
			if e.Content != nil {
				m.Content = *e.Content
			}
			seq, err := s.deliver(tx, m)
			if mailbox.CodeOf(err) == mailbox.CodeInboxFull {
				return &apiError{http.StatusConflict, CodeRecipientInboxFull, "the recipient's inbox is full; answer again later", err}
			}
			if err != nil {
				return err
			}
			rec.Message, rec.Owner, rec.Recipient, rec.RecipientOwner = m.ID, owner, e.Recipient, e.Counterparty
			rec.Seq, rec.ContentDigest = seq, e.ContentDigest
			tx.Set(pendingKey(e.Agent, e.ID), nil)
			delivered = true
		}
		if b, err = json.Marshal(rec); err != nil {
			return err
		}
		tx.Set(ak, b)
		ev := EscalationAnsweredEvent{Escalation: id, ID: e.ID, Agent: e.Agent, Decision: ent.Decision, Reason: ent.Reason, Index: tx.Index()}
		for _, st := range []string{e.Agent, owner} {
			if err := s.emitFitted(tx, st, EventEscalationAnswered, ev, func() any { return ev }); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	s.notifyEvents(e.Agent, owner)
	if err != nil {
		return a, nil, err
	}
	s.logger.Info("escalation answered", "owner", owner, "escalation", id, "decision", ent.Decision, "index", a.Index)
	if delivered {
		// The message is committed with the answer: if its delivery entry
		// fails now, RecoverDeliveries appends it.
		if dl, err = s.completeDelivery(ctx, e.Agent, e.ID); err != nil {
			return a, nil, err
		}
	}
	return a, dl, nil
}

// ExpireEscalations appends a timed_out escalation.answered entry for each
// pending escalation whose deadline is at or before now, and returns how
// many it closed. It is idempotent and safe while serving: an escalation
// answered first is passed over.
func (s *Server) ExpireEscalations(ctx context.Context, now time.Time) (int, error) {
	if s.auth == nil {
		return 0, nil
	}
	todo, err := scanPairKeys(s.auth.db, openPrefix)
	if err != nil {
		return 0, fmt.Errorf("expire escalations: %w", err)
	}
	n := 0
	for _, p := range todo {
		owner, id := p.a, p.b
		b, err := s.auth.db.Get(escalationKey(owner, id))
		if err != nil {
			return n, fmt.Errorf("expire escalation %s of %s: %w", id, owner, err)
		}
		var e escalationRecord
		if err := json.Unmarshal(b, &e); err != nil {
			return n, fmt.Errorf("expire escalation %s of %s: decode: %w", id, owner, err)
		}
		if e.State != EscalationPending || now.Before(s.deadline(e)) {
			continue
		}
		_, _, err = s.closeEscalation(ctx, owner, "", id, e, EscalationTimedOut, "", now.UTC(), nil)
		if errors.Is(err, errNotPending) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("expire escalation %s of %s: %w", id, owner, err)
		}
		n++
	}
	return n, nil
}

// stillPossible re-runs, for an approval, the checks of spec/actions.md §3
// that the owner's answer cannot cure (spec/escalations.md §3), with the
// functions the decision used: the agent's binding, and for a
// counterparty its contact, its Identity Agent (the one decided on) and,
// for a message, that agent's acceptance. The scope is not re-run: the
// approval stands in for it.
func (s *Server) stillPossible(ctx context.Context, e escalationRecord, now time.Time) error {
	stale := func(r *checkRefusal) error {
		return errorf(http.StatusConflict, CodeEscalationStale, "the held action can no longer be carried out: %s: %s", r.code, r.msg)
	}
	agent, err := s.registry.Agent(e.Agent)
	switch {
	case err != nil && registry.CodeOf(err) == "":
		return err
	case err != nil:
		return stale(refuse(ReasonAgentUnbound, "agent %s is not bound", e.Agent))
	}
	if r := bindingRefusal(agent, now); r != nil {
		return stale(r)
	}
	if e.Counterparty == "" {
		return nil
	}
	contact, err := s.contactOf(agent.Owner, e.Counterparty)
	if err != nil {
		return err
	}
	recipient, r, err := s.counterpartyRefusal(ctx, agent, contact, e.Counterparty, e.Action, e.Resource, now)
	switch {
	case err != nil:
		return err
	case r != nil:
		return stale(r)
	case recipient != e.Recipient:
		return stale(refuse(ReasonCounterpartyAgentUnavailable, "the Identity Agent facing %s is now %s, not %s", agent.Owner, recipient, e.Recipient))
	}
	return nil
}
