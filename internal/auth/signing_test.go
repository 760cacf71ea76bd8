package auth

import (
	"bytes"
	"testing"
	"time"
)

func TestSignatureRoundTripAndRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"subject":"jobs.a.b","data":{}}`)
	h := SignRequest("shs_k", now, "POST", "/v1/publish", body)
	if err := VerifySignature("shs_k", h, now.Add(time.Minute), "POST", "/v1/publish", body); err != nil {
		t.Fatalf("own signature refused: %v", err)
	}
	for name, err := range map[string]error{
		"another secret": VerifySignature("shs_j", h, now, "POST", "/v1/publish", body),
		"another method": VerifySignature("shs_k", h, now, "PUT", "/v1/publish", body),
		"another path":   VerifySignature("shs_k", h, now, "POST", "/v1/publish/x", body),
		"another body":   VerifySignature("shs_k", h, now, "POST", "/v1/publish", append(bytes.Clone(body), ' ')),
	} {
		if err != ErrSignatureMismatch {
			t.Errorf("%s: %v, want ErrSignatureMismatch", name, err)
		}
	}
	if err := VerifySignature("shs_k", h, now.Add(SignatureWindow+time.Second), "POST", "/v1/publish", body); err != ErrSignatureExpired {
		t.Errorf("past the window: %v", err)
	}
	for _, bad := range []string{"", "t=1", "v1=00", "t=x,v1=00", "t=1,t=2,v1=" + string(bytes.Repeat([]byte("0"), 64)), "t=1,v1=zz", "garbage"} {
		if err := VerifySignature("shs_k", bad, now, "POST", "/", nil); err != ErrSignatureMalformed {
			t.Errorf("%q: %v, want ErrSignatureMalformed", bad, err)
		}
	}
}

// FuzzParseSignature: the header parser never panics and accepts only a
// positive timestamp with full-length signatures.
func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{"t=1700000000,v1=" + string(bytes.Repeat([]byte("ab"), 32)), "t=1,v1=00", "v1=,t=", ",,,", "t=9999999999999999999,v1=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		ts, sigs, err := ParseSignature(h)
		if err != nil {
			return
		}
		if ts <= 0 || len(sigs) == 0 {
			t.Fatalf("accepted %q: t=%d, %d signatures", h, ts, len(sigs))
		}
		for _, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("accepted a %d-byte signature", len(s))
			}
		}
	})
}
