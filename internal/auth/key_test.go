package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

var scannerRe = regexp.MustCompile(`^sh_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$`)

func TestKeyRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, env := range []string{EnvLive, EnvTest} {
		for range 50 {
			k, err := newKey(env)
			if err != nil {
				t.Fatal(err)
			}
			s := k.Reveal()
			if !scannerRe.MatchString(s) {
				t.Fatalf("key %d chars does not match the documented scanner pattern", len(s))
			}
			if seen[s] || seen[k.ID()] {
				t.Fatal("duplicate key or id drawn")
			}
			seen[s], seen[k.ID()] = true, true
			p, err := ParseKey(s)
			if err != nil {
				t.Fatalf("ParseKey(valid): %v", err)
			}
			if p.ID() != k.ID() || p.Env() != env || p.Reveal() != s || !bytes.Equal(p.hash(), k.hash()) {
				t.Fatal("round trip changed the key")
			}
		}
	}
	if _, err := newKey("prod"); err == nil {
		t.Fatal("newKey accepted an unknown environment")
	}
}

func TestBase62Checksum(t *testing.T) {
	for _, v := range []uint64{0, 1, 61, 62, 0xffffffff, 123456789} {
		s := encodeBase62(v, checksumLen)
		got, ok := decodeBase62(s)
		if len(s) != checksumLen || !ok || got != v {
			t.Fatalf("base62 %d -> %q -> %d %v", v, s, got, ok)
		}
	}
	if _, ok := decodeBase62("zzzzzz"); ok {
		t.Fatal("decodeBase62 accepted a value above 2^32")
	}
}

// Every single-character substitution, deletion, insertion and adjacent
// swap of a valid key must be refused by ParseKey (no store involved).
func TestEveryTypoRejected(t *testing.T) {
	alphabet := base62Alphabet + "_- .\x00é"
	for n := range 3 {
		k, err := newKey([]string{EnvLive, EnvTest, EnvLive}[n])
		if err != nil {
			t.Fatal(err)
		}
		s := k.Reveal()
		try := func(typo, what string) {
			t.Helper()
			if typo == s {
				return
			}
			_, err := ParseKey(typo)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s accepted (err %v)", what, err)
			}
			if strings.Contains(err.Error(), k.s().secret) {
				t.Fatal("error quotes the secret")
			}
		}
		checked := 0
		for i := 0; i < len(s); i++ {
			for j := 0; j < len(alphabet); j++ {
				b := []byte(s)
				b[i] = alphabet[j]
				try(string(b), fmt.Sprintf("substitution at %d", i))
				checked++
			}
			try(s[:i]+s[i+1:], fmt.Sprintf("deletion at %d", i))
			try(s[:i]+"x"+s[i:], fmt.Sprintf("insertion at %d", i))
			if i+1 < len(s) {
				b := []byte(s)
				b[i], b[i+1] = b[i+1], b[i]
				try(string(b), fmt.Sprintf("swap at %d", i))
			}
		}
		if checked < 59*60 {
			t.Fatalf("only %d substitutions checked", checked)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	k, _ := newKey(EnvLive)
	s := k.Reveal()
	for name, in := range map[string]string{
		"empty":          "",
		"prefix only":    "sh_",
		"wrong prefix":   "sk_" + s[3:],
		"upper prefix":   "SH_" + s[3:],
		"unknown env":    strings.Replace(s, "_live_", "_prod_", 1),
		"bearer prefix":  "Bearer " + s,
		"trailing space": s + " ",
		"trailing LF":    s + "\n",
		"doubled":        s + s,
		"too long":       s + strings.Repeat("a", 1000),
		"id too short":   "sh_live_abc_" + s[len("sh_live_")+idLen+1:],
		"no separator":   strings.Replace(s, "_", "", 3),
		"checksum only":  s[:len(s)-checksumLen] + "000000",
	} {
		if _, err := ParseKey(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseKey = %v, want ErrMalformed", name, err)
		}
	}
}

// A Key must not leak its secret through any printing path.
func TestKeyNeverPrintsSecret(t *testing.T) {
	k, _ := newKey(EnvTest)
	secret := k.s().secret
	type wrapper struct {
		Exported   Key
		unexported Key
	}
	w := wrapper{Exported: k, unexported: k}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(f, k), fmt.Sprintf(f, w), fmt.Sprintf(f, &w))
	}
	outs = append(outs, k.String(), k.GoString(), fmt.Sprint(k), fmt.Sprintln([]Key{k}))
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("key", "key", k, "wrapper", w, "ptr", &w)
	}
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, secret) || strings.Contains(o, k.Reveal()) {
			t.Fatalf("secret leaked: %s", o)
		}
	}
	if !strings.Contains(k.String(), k.ID()) || !strings.Contains(buf.String(), k.ID()) {
		t.Fatal("redacted form lost the public id")
	}
	if (Key{}).Reveal() != "" || !(Key{}).IsZero() {
		t.Fatal("zero Key is not empty")
	}
}
