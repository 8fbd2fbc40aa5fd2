package main

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawnet/ledger/did"
)

func TestKeyNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.jwk")
	code, out, errs := runExit(t, "key", "new", "--out", path)
	if code != exitOK {
		t.Fatalf("key new: %d %s", code, errs)
	}
	d := strings.TrimSpace(out)
	pub, err := did.ParseKeyDID(d)
	if err != nil {
		t.Fatalf("key new printed %q: %v", out, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	k, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Priv.Public().(ed25519.PublicKey).Equal(pub) || k.DID != d || k.KID != keyDIDURL(d) {
		t.Fatalf("key file %+v does not hold the key of %s", k, d)
	}
	// The kid is the verification method of the resolved did:key.
	doc, err := did.ResolveKey(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := did.VerificationKey(doc, k.KID, did.Authentication); err != nil || !got.Equal(pub) {
		t.Fatalf("kid %s does not name the key in the DID document: %v", k.KID, err)
	}

	// Never replaces a key by accident.
	before, _ := os.ReadFile(path)
	if code, _, errs := runExit(t, "key", "new", "--out", path); code != exitFail || !strings.Contains(errs, "--force") {
		t.Fatalf("key new over an existing file: %d %s", code, errs)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("existing key file changed")
	}
	if code, _, _ := runExit(t, "key", "new", "--out", path, "--force"); code != exitOK {
		t.Fatal("--force refused")
	}
	if after, _ := os.ReadFile(path); string(after) == string(before) {
		t.Fatal("--force did not write a new key")
	}
	if code, out, _ := runExit(t, "key", "show", path); code != exitOK || !strings.Contains(out, "kid did:key:z6Mk") {
		t.Fatalf("key show: %d %q", code, out)
	}
	if code, out, _ := runExit(t, "key", "did", path); code != exitOK || !strings.HasPrefix(out, "did:key:z6Mk") || strings.Count(out, "\n") != 1 {
		t.Fatalf("key did: %d %q", code, out)
	}
	if code, _, _ := runExit(t, "key", "new"); code != exitUsage {
		t.Fatal("key new without --out accepted")
	}
}

func TestParseKeyFileRefuses(t *testing.T) {
	d, priv, err := did.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	good, err := marshalKeyFile(priv, keyDIDURL(d))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseKeyFile(good); err != nil {
		t.Fatalf("good key file refused: %v", err)
	}
	var f map[string]any
	mutate := func(m func(map[string]any)) []byte {
		if err := json.Unmarshal(good, &f); err != nil {
			t.Fatal(err)
		}
		m(f)
		b, _ := json.Marshal(f)
		return b
	}
	_, other, _ := did.GenerateKey(nil)
	otherJWK, _ := marshalKeyFile(other, keyDIDURL(d))
	var o map[string]any
	_ = json.Unmarshal(otherJWK, &o)
	for name, b := range map[string][]byte{
		"not-json":      []byte("{"),
		"wrong-kty":     mutate(func(m map[string]any) { m["kty"] = "EC" }),
		"wrong-crv":     mutate(func(m map[string]any) { m["crv"] = "X25519" }),
		"x-of-another":  mutate(func(m map[string]any) { m["x"] = o["x"] }),
		"short-d":       mutate(func(m map[string]any) { m["d"] = "AAAA" }),
		"kid-no-frag":   mutate(func(m map[string]any) { m["kid"] = d }),
		"kid-not-did":   mutate(func(m map[string]any) { m["kid"] = "https://x#y" }),
		"unknown-field": mutate(func(m map[string]any) { m["use"] = "sig" }),
	} {
		if _, err := parseKeyFile(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseKeyFile(f *testing.F) {
	d, priv, _ := did.GenerateKey(nil)
	good, _ := marshalKeyFile(priv, keyDIDURL(d))
	f.Add(good)
	f.Add([]byte(`{"kty":"OKP"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKeyFile(b)
		if err != nil {
			return
		}
		again, err := marshalKeyFile(k.Priv, k.KID)
		if err != nil {
			t.Fatalf("accepted key file does not re-encode: %v", err)
		}
		k2, err := parseKeyFile(again)
		if err != nil || !k2.Priv.Equal(k.Priv) || k2.KID != k.KID {
			t.Fatalf("round trip changed the key: %v", err)
		}
	})
}
