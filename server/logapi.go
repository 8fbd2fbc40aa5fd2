package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/clawnet/ledger/transparency"
	"github.com/clawnet/ledger/transparency/sequencer"
)

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	Status   string `json:"status"`
	TreeSize uint64 `json:"tree_size"`
}

// EntryResponse is the body of GET /log/v1/entries/{index}. Entry is the
// exact byte string that was hashed into the tree (base64 in JSON).
type EntryResponse struct {
	Index    uint64            `json:"index"`
	LeafHash transparency.Hash `json:"leaf_hash"`
	Entry    []byte            `json:"entry"`
}

// InclusionProofResponse is the body of GET /log/v1/proof/inclusion.
// Checkpoint is the signed note of the tree the proof is for, present when
// the request left the size to the server.
type InclusionProofResponse struct {
	Index      uint64              `json:"index"`
	TreeSize   uint64              `json:"tree_size"`
	LeafHash   transparency.Hash   `json:"leaf_hash"`
	Proof      []transparency.Hash `json:"proof"`
	Checkpoint string              `json:"checkpoint,omitempty"`
}

// ConsistencyProofResponse is the body of GET /log/v1/proof/consistency.
// Checkpoint is the signed note of the tree of size To, present when the
// request left To to the server.
type ConsistencyProofResponse struct {
	From       uint64              `json:"from"`
	To         uint64              `json:"to"`
	Proof      []transparency.Hash `json:"proof"`
	Checkpoint string              `json:"checkpoint,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	if err := s.log.Err(); err != nil {
		return &apiError{http.StatusServiceUnavailable, CodeLogFailed, "the log has failed and is not accepting requests", err}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ok", TreeSize: s.log.Size()})
	return nil
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) error {
	signed, _, _ := s.log.Checkpoint()
	if len(signed) == 0 {
		return errors.New("log has no checkpoint")
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	// The checkpoint changes with every batch: clients must revalidate.
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(signed)
	return nil
}

func (s *Server) key(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(s.vkey + "\n"))
	return nil
}

func (s *Server) tile(w http.ResponseWriter, r *http.Request) error {
	// The escaped path, so that a percent-encoded '/' or digit cannot pass
	// for a canonical path.
	p := r.URL.EscapedPath()
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return errorf(http.StatusBadRequest, CodeBadTilePath, "tile paths take no query")
	}
	t, err := transparency.ParseTilePath(p[len("/log/"):])
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadTilePath,
			"%s is not a C2SP tlog-tiles path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])", echo(p))
	}
	b, err := s.log.ReadTile(t)
	if errors.Is(err, sequencer.ErrNotFound) || errors.Is(err, sequencer.ErrInvalid) {
		return errorf(http.StatusNotFound, CodeNotFound, "tile %s is not available", t.Path())
	}
	if err != nil {
		return fmt.Errorf("read tile %s: %w", t.Path(), err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if t.Width == transparency.TileWidth {
		// A full tile never changes (C2SP tlog-tiles).
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	_, _ = w.Write(b)
	return nil
}

// entryAt fails with 404 not_found for an index at or beyond the log size.
func (s *Server) checkExists(index uint64) error {
	if size := s.log.Size(); index >= size {
		return errorf(http.StatusNotFound, CodeNotFound, "index %d is not below the log size %d", index, size)
	}
	return nil
}

func (s *Server) entry(w http.ResponseWriter, r *http.Request) error {
	index, err := parseIndex("index", r.PathValue("index"))
	if err != nil {
		return err
	}
	if err := s.checkExists(index); err != nil {
		return err
	}
	e, err := s.log.Entry(index)
	if err != nil {
		return fmt.Errorf("entry %d: %w", index, err)
	}
	writeJSON(w, http.StatusOK, EntryResponse{Index: index, LeafHash: transparency.LeafHash(e), Entry: e})
	return nil
}

func (s *Server) receipt(w http.ResponseWriter, r *http.Request) error {
	index, err := parseIndex("index", r.PathValue("index"))
	if err != nil {
		return err
	}
	if err := s.checkExists(index); err != nil {
		return err
	}
	rc, err := s.log.Receipt(index)
	if err != nil {
		return fmt.Errorf("receipt %d: %w", index, err)
	}
	b, err := rc.Marshal()
	if err != nil {
		return fmt.Errorf("receipt %d: encode: %w", index, err)
	}
	s.metrics.proofs.WithLabelValues("receipt").Inc()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}

func parseQuery(r *http.Request, known ...string) (map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeBadRequest, "malformed query string")
	}
	return queryParams(q, known...)
}

// treeAt resolves the tree a proof is for: the latest checkpoint when size
// is absent, or the tree of the given size, which must exist.
func (s *Server) treeAt(sizeParam string, present bool, name string) (size uint64, root transparency.Hash, checkpoint string, err error) {
	signed, cpSize, cpRoot := s.log.Checkpoint()
	if !present {
		return cpSize, cpRoot, string(signed), nil
	}
	size, err = parseSize(name, sizeParam)
	if err != nil {
		return 0, root, "", err
	}
	if logSize := s.log.Size(); size > logSize {
		return 0, root, "", errorf(http.StatusBadRequest, CodeBadSize, "%s %d is larger than the log size %d", name, size, logSize)
	}
	if size == cpSize {
		return size, cpRoot, "", nil
	}
	root, err = s.log.RootAt(size)
	if err != nil {
		return 0, root, "", fmt.Errorf("root at %d: %w", size, err)
	}
	return size, root, "", nil
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "index", "leaf_hash", "size")
	if err != nil {
		return err
	}
	idxParam, byIndex := q["index"]
	hashParam, byHash := q["leaf_hash"]
	if byIndex == byHash {
		return errorf(http.StatusBadRequest, CodeBadRequest, "give exactly one of index and leaf_hash")
	}
	var index uint64
	var leaf transparency.Hash
	if byIndex {
		if index, err = parseIndex("index", idxParam); err != nil {
			return err
		}
		if err := s.checkExists(index); err != nil {
			return err
		}
	} else {
		if leaf, err = parseLeafHash(hashParam); err != nil {
			return err
		}
		index, err = s.log.IndexOf(leaf)
		if errors.Is(err, sequencer.ErrNotFound) {
			return errorf(http.StatusNotFound, CodeNotFound, "leaf hash %s is not in the log", leaf)
		}
		if err != nil {
			return fmt.Errorf("index of %s: %w", leaf, err)
		}
	}
	sizeParam, sizeGiven := q["size"]
	size, root, cp, err := s.treeAt(sizeParam, sizeGiven, "size")
	if err != nil {
		return err
	}
	if index >= size {
		if byHash {
			return errorf(http.StatusNotFound, CodeNotFound, "leaf hash %s is not in the tree of size %d", leaf, size)
		}
		return errorf(http.StatusBadRequest, CodeBadSize, "index %d is not in the tree of size %d", index, size)
	}
	// The leaf hash comes with the proof (the log reads it with the
	// proof's lowest siblings), not from a separate read. The log verified
	// the proof; the server checks it again against the root of the tree
	// this response is about, so that no implementation of Log can make it
	// serve a proof that does not verify.
	inc, err := s.log.ProveInclusion(index, size)
	if err != nil {
		return fmt.Errorf("inclusion proof %d in %d: %w", index, size, err)
	}
	if byHash && inc.LeafHash != leaf {
		return fmt.Errorf("inclusion proof %d in %d: the stored leaf hash %s is not %s", index, size, inc.LeafHash, leaf)
	}
	if err := transparency.VerifyInclusion(index, size, inc.LeafHash, inc.Proof, root); err != nil {
		return fmt.Errorf("inclusion proof %d in %d does not verify: %w", index, size, err)
	}
	s.metrics.inclusionProofs.Inc()
	writeJSONBytes(w, http.StatusOK, appendInclusionProofJSON(make([]byte, 0, 128+len(inc.Proof)*48+2*len(cp)), InclusionProofResponse{
		Index: index, TreeSize: size, LeafHash: inc.LeafHash, Proof: inc.Proof, Checkpoint: cp,
	}))
	return nil
}

// appendInclusionProofJSON appends r as encoding/json would encode it,
// without reflection: this is the hottest response of the API. A test
// compares the two byte for byte.
func appendInclusionProofJSON(dst []byte, r InclusionProofResponse) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendUint(dst, r.Index, 10)
	dst = append(dst, `,"tree_size":`...)
	dst = strconv.AppendUint(dst, r.TreeSize, 10)
	dst = append(dst, `,"leaf_hash":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, r.LeafHash[:])
	dst = append(dst, `","proof":`...)
	dst = appendHashesJSON(dst, r.Proof)
	if r.Checkpoint != "" {
		dst = append(dst, `,"checkpoint":`...)
		dst = appendJSONString(dst, r.Checkpoint)
	}
	return append(dst, '}')
}

func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "from", "to")
	if err != nil {
		return err
	}
	fromParam, ok := q["from"]
	if !ok {
		return errorf(http.StatusBadRequest, CodeBadRequest, "missing query parameter from")
	}
	from, err := parseSize("from", fromParam)
	if err != nil {
		return err
	}
	toParam, toGiven := q["to"]
	to, rootTo, cp, err := s.treeAt(toParam, toGiven, "to")
	if err != nil {
		return err
	}
	if from == 0 || from > to {
		return errorf(http.StatusBadRequest, CodeBadRange, "from %d must be between 1 and to %d", from, to)
	}
	var rootFrom transparency.Hash
	if from == to {
		rootFrom = rootTo
	} else if rootFrom, err = s.log.RootAt(from); err != nil {
		return fmt.Errorf("root at %d: %w", from, err)
	}
	proof, err := s.log.ConsistencyProof(from, to)
	if err != nil {
		return fmt.Errorf("consistency proof %d to %d: %w", from, to, err)
	}
	if err := transparency.VerifyConsistency(from, to, rootFrom, rootTo, proof); err != nil {
		return fmt.Errorf("consistency proof %d to %d does not verify: %w", from, to, err)
	}
	if proof == nil {
		proof = []transparency.Hash{}
	}
	s.metrics.proofs.WithLabelValues("consistency").Inc()
	writeJSON(w, http.StatusOK, ConsistencyProofResponse{From: from, To: to, Proof: proof, Checkpoint: cp})
	return nil
}
