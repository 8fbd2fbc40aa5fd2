package status

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clawnet/ledger/vc/internal/strictjson"
)

const (
	// EntryType is the type of a credential's status entry.
	EntryType = "BitstringStatusListEntry"
	// PurposeRevocation is the status purpose of this server's lists: a
	// set bit cancels the credential, for good.
	PurposeRevocation = "revocation"
	// PurposeSuspension is the other single-bit purpose of the spec
	// (reversible). This server never issues suspension lists, but Check
	// and VerifyList accept them from other issuers.
	PurposeSuspension = "suspension"
	// maxURLLen bounds every URL of an entry or a list credential.
	maxURLLen = 2048
)

// Entry is a BitstringStatusListEntry (§3.1), the credentialStatus of a
// credential, with the members in the spec's order. Of the optional
// members only id is supported: statusSize (which must then be 1),
// statusMessage and statusReference are refused by ParseEntry, because
// this profile has single-bit revocation and suspension only.
type Entry struct {
	// ID identifies the entry; this server writes
	// "<ListCredential>#<ListIndex>". Optional in the spec; never equal to
	// ListCredential.
	ID string `json:"id,omitempty"`
	// Type is EntryType.
	Type string `json:"type"`
	// Purpose is the statusPurpose, "revocation" for this server's lists.
	Purpose string `json:"statusPurpose"`
	// ListIndex is the statusListIndex: a non-negative integer in base 10,
	// as a string.
	ListIndex string `json:"statusListIndex"`
	// ListCredential is the statusListCredential: the URL of the status
	// list credential.
	ListCredential string `json:"statusListCredential"`
}

// ParseEntry decodes a credentialStatus object strictly: exactly the
// members of Entry, each once, all strings, and valid (Validate).
func ParseEntry(data []byte) (Entry, error) {
	var e Entry
	if !utf8.Valid(data) {
		return e, fail(CodeMalformed, "credentialStatus is not valid UTF-8")
	}
	ms, err := strictjson.Parse(data)
	if err != nil {
		return e, failWrap(CodeMalformed, err, "credentialStatus")
	}
	if err := members(ms, "credentialStatus", []string{"type", "statusPurpose", "statusListIndex", "statusListCredential"}, []string{"id"}); err != nil {
		return e, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &e.ID}, {"type", &e.Type}, {"statusPurpose", &e.Purpose}, {"statusListIndex", &e.ListIndex}, {"statusListCredential", &e.ListCredential}} {
		raw, ok := ms.Get(f.name)
		if !ok {
			continue
		}
		if *f.dst, err = strictjson.String(raw); err != nil {
			return e, failWrap(CodeMalformed, err, "credentialStatus.%s", f.name)
		}
	}
	if _, ok := ms.Get("id"); ok && e.ID == "" {
		return e, fail(CodeMalformed, "credentialStatus.id is empty")
	}
	if _, err := e.Validate(); err != nil {
		return e, err
	}
	return e, nil
}

// Validate checks the entry against §3.1 and returns its index: type is
// EntryType; statusPurpose is revocation or suspension; statusListIndex is
// a base-10 integer without sign or leading zero (CodeMalformed) that fits
// 64 bits (else CodeIndexOutOfRange: no list is that long);
// statusListCredential is an absolute http(s) URL without fragment; id, if
// present, is an absolute URL that is not statusListCredential.
func (e Entry) Validate() (uint64, error) {
	if e.Type != EntryType {
		return 0, fail(CodeMalformed, "credentialStatus.type %.64q, want %q", e.Type, EntryType)
	}
	if e.Purpose != PurposeRevocation && e.Purpose != PurposeSuspension {
		return 0, fail(CodeMalformed, "credentialStatus.statusPurpose %.64q, want %q or %q", e.Purpose, PurposeRevocation, PurposeSuspension)
	}
	i, err := parseIndex(e.ListIndex)
	if err != nil {
		return 0, err
	}
	if !httpURL(e.ListCredential) {
		return 0, fail(CodeMalformed, "credentialStatus.statusListCredential %.128q is not an absolute http(s) URL without fragment", e.ListCredential)
	}
	if e.ID != "" {
		if u, err := url.Parse(e.ID); err != nil || !u.IsAbs() || len(e.ID) > maxURLLen {
			return 0, fail(CodeMalformed, "credentialStatus.id %.128q is not an absolute URL", e.ID)
		}
		if e.ID == e.ListCredential {
			return 0, fail(CodeMalformed, "credentialStatus.id is the status list's URL (§3.1 forbids it)")
		}
	}
	return i, nil
}

// parseIndex parses a statusListIndex.
func parseIndex(s string) (uint64, *Error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, fail(CodeMalformed, "statusListIndex %.32q is not a base-10 integer without leading zero", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fail(CodeMalformed, "statusListIndex %.32q is not a base-10 integer", s)
		}
	}
	i, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fail(CodeIndexOutOfRange, "statusListIndex %.32q is beyond any list", s)
	}
	return i, nil
}

// httpURL reports whether s is an absolute http or https URL with a host,
// no fragment and no user info, at most maxURLLen bytes.
func httpURL(s string) bool {
	if len(s) == 0 || len(s) > maxURLLen {
		return false
	}
	if strings.ContainsAny(s, "# \t\r\n") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Fragment == "" && u.User == nil && !u.ForceQuery && u.Opaque == ""
}
