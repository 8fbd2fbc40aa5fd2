// Package scope is the scope language of ClawNet delegation credentials
// (issue 4): what an Identity Agent may do, on which resources, with which
// counterparties, under which constraints on the action's arguments, and
// until when. The normative text is spec/scope-language.md; its vectors are
// in spec/testdata/scope.
//
// The package promises:
//   - strict parsing (Parse, ParseScope): unknown, duplicate, null or
//     mistyped members, invalid UTF-8, control characters and every input
//     beyond the limits are refused with an *Error carrying a stable Code,
//     the scope index and the member; Marshal writes the canonical form,
//     and Parse∘Marshal is a fixed point;
//   - pure, total evaluation (Set.Evaluate): no I/O, no clock reads (the
//     request carries its time), no panics, deny wins, no scope means
//     deny, and every decision names its scope and reason; matching is
//     byte-exact (no Unicode normalization, no path normalization), a
//     request resource with ".", ".." or empty segments is denied, never
//     cleaned; glob matching never backtracks (anchored head and tail, then a
//     leftmost search for each run between globstars: at worst request
//     segments × pattern segments tests, bounded per list by MaxSearched);
//     numbers compare exactly as decimals; a compiled Set evaluates an
//     allowed request without allocating;
//   - a sound attenuation check (Subset): it never says that a child list
//     is within its parent when some request is allowed by the child and
//     not by the parent.
package scope
