package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clawnet/ledger/transparency"
)

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs clawaudit in process with a fixed clock.
func runCLI(t testing.TB, args ...string) result {
	t.Helper()
	return runCLICtx(t, context.Background(), args...)
}

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func runCLICtx(t testing.TB, ctx context.Context, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runEnv(ctx, args, &env{stdout: &stdout, stderr: &stderr, now: func() time.Time { return testNow }})
	r := result{code, stdout.String(), stderr.String()}
	if testing.Verbose() {
		t.Logf("clawaudit %s -> %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (r result) want(t testing.TB, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	if code != 0 && !strings.HasPrefix(r.stderr, "clawaudit: ") && !strings.Contains(r.stderr, "\nclawaudit: ") {
		t.Fatalf("exit code %d without a clawaudit: message on stderr:\n%s", code, r.stderr)
	}
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeReceipt(t testing.TB, dir, name string, r *transparency.Receipt) string {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, b)
}

func TestParseArgsInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		pos     []string
		key     string
		json    bool
		wantErr bool
	}{
		{[]string{"a", "--key", "K"}, []string{"a"}, "K", false, false},
		{[]string{"--key", "K", "a"}, []string{"a"}, "K", false, false},
		{[]string{"a", "--json", "b", "--key=K", "c"}, []string{"a", "b", "c"}, "K", true, false},
		{[]string{"a", "--", "--key", "K"}, []string{"a", "--key", "K"}, "", false, false},
		{[]string{"-", "b"}, []string{"-", "b"}, "", false, false},
		{[]string{}, nil, "", false, false},
		{[]string{"a", "--key"}, nil, "", false, true},
		{[]string{"a", "--nope"}, nil, "", false, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			fs := newFlagSet("test", &stderr, "test")
			key := fs.String("key", "", "")
			js := fs.Bool("json", false, "")
			pos, err := parseArgs(fs, tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !reflect.DeepEqual(pos, tt.pos) || *key != tt.key || *js != tt.json {
				t.Fatalf("got pos %q key %q json %v, want %q %q %v", pos, *key, *js, tt.pos, tt.key, tt.json)
			}
		})
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("a\x00--key\x00K\x00--json\x00b")
	f.Add("--\x00--key")
	f.Add("--key=\x00-json=false")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		var stderr bytes.Buffer
		fs := newFlagSet("test", &stderr, "test")
		fs.String("key", "", "")
		fs.Bool("json", false, "")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return
		}
		// Every positional argument is one of the arguments, in order.
		j := 0
		for _, p := range pos {
			for j < len(args) && args[j] != p {
				j++
			}
			if j == len(args) {
				t.Fatalf("positional %q not among the arguments %q in order", p, args)
			}
			j++
		}
	})
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	key := newTestKey(t, "example.com/log")
	l := newFakeLog(t, key).grow(20, "entry")
	good := l.receipt(7, 20)
	goodPath := writeReceipt(t, dir, "good.json", good)
	keyFile := writeFile(t, dir, "log.vkey", []byte(key.vkey+"\n"))

	t.Run("good", func(t *testing.T) {
		r := runCLI(t, "verify", goodPath, "--key", key.vkey)
		r.want(t, 0)
		for _, s := range []string{"OK", "good.json", "index 7", "type operator.note", "decision recorded", "actor did:key:z6MkTest", "checkpoint size 20"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout %q lacks %q", r.stdout, s)
			}
		}
	})
	t.Run("key from file, flags first", func(t *testing.T) {
		runCLI(t, "verify", "--key", keyFile, goodPath).want(t, 0)
	})
	t.Run("json", func(t *testing.T) {
		r := runCLI(t, "verify", goodPath, "--json", "--key", key.vkey)
		r.want(t, 0)
		var out verifyOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
		}
		if !out.OK || len(out.Results) != 1 || !out.Results[0].OK || *out.Results[0].Index != 7 ||
			*out.Results[0].CheckpointSize != 20 || out.Results[0].LeafHash != transparency.LeafHash(good.Entry).String() {
			t.Fatalf("unexpected JSON result %+v", out)
		}
	})

	// Security failures: exit 1.
	otherKey := newTestKey(t, "example.com/other")
	sameName := newTestKey(t, "example.com/log")
	mutations := []struct {
		name   string
		mutate func(r *transparency.Receipt)
	}{
		{"tampered entry", func(r *transparency.Receipt) { r.Entry = l.receipt(8, 20).Entry }},
		{"tampered entry byte", func(r *transparency.Receipt) {
			r.Entry = bytes.Replace(r.Entry, []byte("entry 7"), []byte("entry 9"), 1)
		}},
		{"tampered proof", func(r *transparency.Receipt) { r.InclusionProof[0][0] ^= 1 }},
		{"proof truncated", func(r *transparency.Receipt) { r.InclusionProof = r.InclusionProof[1:] }},
		{"proof extended", func(r *transparency.Receipt) { r.InclusionProof = append(r.InclusionProof, r.InclusionProof[0]) }},
		{"index changed", func(r *transparency.Receipt) { r.Index = 6 }},
		{"index beyond size", func(r *transparency.Receipt) { r.Index = 20 }},
		{"checkpoint signed by another key", func(r *transparency.Receipt) {
			r.Checkpoint = string(signCheckpoint(t, otherKey, 20, l.root(20)))
		}},
		{"checkpoint of another size, same key name, other key", func(r *transparency.Receipt) {
			r.Checkpoint = string(signCheckpoint(t, sameName, 21, l.root(20)))
		}},
		{"checkpoint of another root, same key name, other key", func(r *transparency.Receipt) {
			r.Checkpoint = string(signCheckpoint(t, sameName, 20, l.root(19)))
		}},
		{"checkpoint of another size, right key", func(r *transparency.Receipt) { r.Checkpoint = string(l.checkpoint(19)) }},
		{"checkpoint signature byte flipped", func(r *transparency.Receipt) {
			b := []byte(r.Checkpoint)
			b[len(b)-5] ^= 1
			r.Checkpoint = string(b)
		}},
		{"logged entry is not canonical", func(r *transparency.Receipt) {
			// A log that signed a non-canonical entry: a receipt that
			// proves bytes which are not a valid entry.
			bad := newFakeLog(t, key)
			bad.appendRaw([]byte(`{"v":1}`))
			*r = *bad.receipt(0, 1)
		}},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			r := l.receipt(7, 20)
			m.mutate(r)
			p := writeReceipt(t, t.TempDir(), "r.json", r)
			res := runCLI(t, "verify", p, "--key", key.vkey)
			res.want(t, 1)
			if strings.Contains(res.stdout, "OK") {
				t.Fatalf("failed receipt reported OK: %s", res.stdout)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		runCLI(t, "verify", goodPath, "--key", otherKey.vkey).want(t, 1)
		runCLI(t, "verify", goodPath, "--key", sameName.vkey).want(t, 1)
	})
	t.Run("one bad among good", func(t *testing.T) {
		r := l.receipt(3, 20)
		r.Index = 4
		bad := writeReceipt(t, dir, "bad.json", r)
		res := runCLI(t, "verify", goodPath, bad, "--json", "--key", key.vkey)
		res.want(t, 1)
		var out verifyOutput
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
			t.Fatal(err)
		}
		if out.OK || len(out.Results) != 2 || !out.Results[0].OK || out.Results[1].OK || out.Results[1].ErrorClass != "verification" {
			t.Fatalf("unexpected JSON %+v", out)
		}
	})
	t.Run("security failure beats a missing file", func(t *testing.T) {
		r := l.receipt(3, 20)
		r.Index = 4
		bad := writeReceipt(t, dir, "bad2.json", r)
		runCLI(t, "verify", filepath.Join(dir, "missing.json"), bad, "--key", key.vkey).want(t, 1)
	})

	// Usage and operational errors: exit 2.
	malformed := writeFile(t, dir, "malformed.json", []byte(`{"format":`))
	unknownField := writeFile(t, dir, "unknown.json", bytes.Replace(mustMarshal(t, good), []byte(`"format"`), []byte(`"extra": 1, "format"`), 1))
	badB64 := writeFile(t, dir, "b64.json", bytes.Replace(mustMarshal(t, good), []byte(`"entry": "`), []byte(`"entry": "!`), 1))
	big := writeFile(t, dir, "big.json", bytes.Repeat([]byte(" "), transparency.MaxReceiptSize+1))
	operational := []struct {
		name string
		args []string
	}{
		{"missing file", []string{"verify", filepath.Join(dir, "nope.json"), "--key", key.vkey}},
		{"malformed JSON", []string{"verify", malformed, "--key", key.vkey}},
		{"unknown field", []string{"verify", unknownField, "--key", key.vkey}},
		{"bad base64", []string{"verify", badB64, "--key", key.vkey}},
		{"too large", []string{"verify", big, "--key", key.vkey}},
		{"a directory", []string{"verify", dir, "--key", key.vkey}},
		{"bad key string", []string{"verify", goodPath, "--key", "example.com/log+zz+nope"}},
		{"key file with garbage", []string{"verify", goodPath, "--key", writeFile(t, dir, "bad.vkey", []byte("garbage\n"))}},
		{"no key", []string{"verify", goodPath}},
		{"no receipt", []string{"verify", "--key", key.vkey}},
		{"unknown flag", []string{"verify", goodPath, "--key", key.vkey, "--insecure"}},
		{"unknown command", []string{"frobnicate"}},
		{"no command", []string{}},
	}
	for _, o := range operational {
		t.Run(o.name, func(t *testing.T) {
			r := runCLI(t, o.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstderr: %s", r.code, r.stderr)
			}
			if len(o.args) > 0 && !strings.Contains(r.stderr, "clawaudit: ") {
				t.Fatalf("no clawaudit: message: %q", r.stderr)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		runCLI(t, "help").want(t, 0)
		runCLI(t, "verify", "-h").want(t, 0)
	})
}

func mustMarshal(t testing.TB, r *transparency.Receipt) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErrorMessagesOneLine checks that every failure is one line on stderr
// starting with "clawaudit: ", even when the server sends newlines.
func TestErrorMessagesOneLine(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("a\nb\r\nc"),
		withHint(fmt.Errorf("x\ny"), "h\ni"),
		usageErrorf("bad %s", "thing"),
	} {
		var b bytes.Buffer
		code := report(&b, err)
		if code != 2 || strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "clawaudit: ") {
			t.Errorf("report(%q) = %d, %q", err, code, b.String())
		}
	}
	var b bytes.Buffer
	if code := report(&b, fmt.Errorf("wrapped: %w", transparency.ErrVerification)); code != 1 {
		t.Errorf("security failure exit %d, want 1", code)
	}
	if code := report(&b, nil); code != 0 {
		t.Errorf("nil exit %d, want 0", code)
	}
}
