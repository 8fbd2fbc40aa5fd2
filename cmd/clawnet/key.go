package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clawnet/ledger/did"
)

// Key files: an owner's or agent's Ed25519 private key as a JWK (RFC 8037
// OKP), mode 0600, with "kid" the DID URL of the verification method that
// the key is in the DID document, so that a signed request knows its kid
// without resolving anything:
//
//	{"kty":"OKP","crv":"Ed25519","x":"…","d":"…","kid":"did:key:z6Mk…#z6Mk…"}
//
// The file holds nothing else; its key is checked against x when read.

// keyFile is the JSON of a key file.
type keyFile struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	D   string `json:"d"`
	Kid string `json:"kid"`
}

// signingKey is a loaded key file.
type signingKey struct {
	Priv ed25519.PrivateKey
	KID  string // DID URL of the verification method
	DID  string // the DID part of KID
	Path string // where it was read from (for messages)
}

func marshalKeyFile(priv ed25519.PrivateKey, kid string) ([]byte, error) {
	if _, err := did.ParseDIDURL(kid); err != nil || !strings.Contains(kid, "#") {
		return nil, fmt.Errorf("kid %q is not a DID URL with a fragment", kid)
	}
	b, err := json.MarshalIndent(keyFile{
		Kty: "OKP", Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		D:   base64.RawURLEncoding.EncodeToString(priv.Seed()),
		Kid: kid,
	}, "", "  ")
	return append(b, '\n'), err
}

func parseKeyFile(b []byte) (*signingKey, error) {
	var f keyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a key file (an Ed25519 private JWK written by clawnet key new): %w", err)
	}
	if f.Kty != "OKP" || f.Crv != "Ed25519" {
		return nil, fmt.Errorf("key type %s/%s, want OKP/Ed25519", f.Kty, f.Crv)
	}
	seed, err := base64.RawURLEncoding.DecodeString(f.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New(`"d" is not a base64url Ed25519 private key`)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)) != f.X {
		return nil, errors.New(`"x" is not the public key of "d"`)
	}
	u, err := did.ParseDIDURL(f.Kid)
	if err != nil || u.Fragment == "" || u.DID+"#"+u.Fragment != f.Kid {
		return nil, fmt.Errorf(`"kid" %q is not a DID URL with a fragment`, f.Kid)
	}
	return &signingKey{Priv: priv, KID: f.Kid, DID: u.DID}, nil
}

func readKeyFile(path string) (*signingKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := parseKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k.Path = path
	return k, nil
}

// writeKeyFile writes a key file with mode 0600. It refuses to replace an
// existing file unless force: a lost private key cannot be recovered.
func writeKeyFile(path string, priv ed25519.PrivateKey, kid string, force bool) error {
	b, err := marshalKeyFile(priv, kid)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; not replacing a key (use --force to overwrite it)", path)
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keyDIDURL is the verification method of a did:key: the DID and, as
// fragment, its method-specific id.
func keyDIDURL(d string) string { return d + "#" + strings.TrimPrefix(d, "did:key:") }

func init() {
	registerCommand(command{name: "key", summary: "create an Ed25519 key file and print its did:key", run: cmdKey})
}

func keyUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  clawnet key new --out FILE [--force]   create a key; prints its did:key
  clawnet key show FILE                  print the DID and kid of a key file
  clawnet key did FILE                   print only the DID (for scripts)
`)
}

func cmdKey(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		keyUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "new":
		fs := flag.NewFlagSet("key new", flag.ContinueOnError)
		fs.SetOutput(stderr)
		out := fs.String("out", "", "write the key to `FILE` (mode 0600)")
		force := fs.Bool("force", false, "overwrite FILE if it exists")
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return exitUsage
		}
		if *out == "" || len(pos) != 0 {
			fmt.Fprintln(stderr, "usage: clawnet key new --out FILE [--force]")
			return exitUsage
		}
		d, priv, err := did.GenerateKey(rand.Reader)
		if err != nil {
			fmt.Fprintf(stderr, "clawnet key new: %v\n", err)
			return exitFail
		}
		if err := writeKeyFile(*out, priv, keyDIDURL(d), *force); err != nil {
			fmt.Fprintf(stderr, "clawnet key new: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(stdout, d)
		return exitOK
	case "show", "did":
		if len(args) != 2 {
			fmt.Fprintf(stderr, "usage: clawnet key %s FILE\n", args[0])
			return exitUsage
		}
		k, err := readKeyFile(args[1])
		if err != nil {
			fmt.Fprintf(stderr, "clawnet key %s: %v\n", args[0], err)
			return exitFail
		}
		if args[0] == "did" {
			fmt.Fprintln(stdout, k.DID)
		} else {
			fmt.Fprintf(stdout, "did %s\nkid %s\n", k.DID, k.KID)
		}
		return exitOK
	default:
		keyUsage(stderr)
		return exitUsage
	}
}
