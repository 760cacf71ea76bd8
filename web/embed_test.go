package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func TestFallbackWhenNotBuilt(t *testing.T) {
	h := newHandler(fstest.MapFS{"README.txt": {Data: []byte("placeholder")}})

	res := get(t, h, http.MethodGet, "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / status = %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if b := body(t, res); !strings.Contains(b, "cd web &amp;&amp; npm ci &amp;&amp; npm run build") {
		t.Errorf("fallback page lacks the build command:\n%s", b)
	}

	for _, p := range []string{"/assets/index-abc.js", "/README.txt", "/nope"} {
		if res := get(t, h, http.MethodGet, p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s status = %d, want 404", p, res.StatusCode)
		}
	}
}

func builtFS() fstest.MapFS {
	return fstest.MapFS{
		"README.txt":                     {Data: []byte("placeholder")},
		"app/index.html":                 {Data: []byte("<!doctype html><title>StreamHub</title>")},
		"app/assets/index-3f2a9c1d.js":   {Data: []byte("console.log('hub')")},
		"app/assets/index-77aa00bb.css":  {Data: []byte("body{color:red}")},
		"app/favicon.svg":                {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
		"app/assets/sub/nested-1234.svg": {Data: []byte("<svg/>")},
	}
}

func TestServesBuiltAssets(t *testing.T) {
	h := newHandler(builtFS())

	cases := []struct {
		path, wantType, wantCache, wantBody string
	}{
		{"/", "text/html; charset=utf-8", "no-cache", "<title>StreamHub</title>"},
		{"/index.html", "text/html; charset=utf-8", "no-cache", "<title>StreamHub</title>"},
		{"/assets/index-3f2a9c1d.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"},
		{"/assets/index-77aa00bb.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable", "color:red"},
		{"/favicon.svg", "image/svg+xml", "no-cache", "<svg"},
		{"/assets/sub/nested-1234.svg", "image/svg+xml", "public, max-age=31536000, immutable", "<svg/>"},
	}
	for _, c := range cases {
		res := get(t, h, http.MethodGet, c.path, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s status = %d, want 200", c.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.wantType {
			t.Errorf("GET %s Content-Type = %q, want %q", c.path, got, c.wantType)
		}
		if got := res.Header.Get("Cache-Control"); got != c.wantCache {
			t.Errorf("GET %s Cache-Control = %q, want %q", c.path, got, c.wantCache)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s X-Content-Type-Options = %q", c.path, got)
		}
		if b := body(t, res); !strings.Contains(b, c.wantBody) {
			t.Errorf("GET %s body = %q, want it to contain %q", c.path, b, c.wantBody)
		}
	}

	if csp := get(t, h, http.MethodGet, "/", nil).Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("index CSP = %q", csp)
	}
}

func TestConditionalAndMethods(t *testing.T) {
	h := newHandler(builtFS())

	first := get(t, h, http.MethodGet, "/assets/index-3f2a9c1d.js", nil)
	etag := first.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag = %q, want a strong ETag", etag)
	}
	if res := get(t, h, http.MethodGet, "/assets/index-3f2a9c1d.js", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match status = %d, want 304", res.StatusCode)
	}
	other := get(t, h, http.MethodGet, "/assets/index-77aa00bb.css", nil).Header.Get("ETag")
	if other == etag {
		t.Errorf("two different files share ETag %s", etag)
	}

	head := get(t, h, http.MethodHead, "/", nil)
	if head.StatusCode != http.StatusOK || body(t, head) != "" {
		t.Errorf("HEAD / = %d with a body", head.StatusCode)
	}
	post := get(t, h, http.MethodPost, "/", nil)
	if post.StatusCode != http.StatusMethodNotAllowed || post.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d, Allow %q", post.StatusCode, post.Header.Get("Allow"))
	}
	for _, p := range []string{"/assets/", "/assets", "/missing.js", "/../README.txt", "/README.txt", "/app/index.html"} {
		if res := get(t, h, http.MethodGet, p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s status = %d, want 404", p, res.StatusCode)
		}
	}
}

// TestEmbeddedHandler checks the real embedded tree, built or not.
func TestEmbeddedHandler(t *testing.T) {
	res := get(t, Handler(), http.MethodGet, "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / status = %d", res.StatusCode)
	}
	b := body(t, res)
	if Built() {
		if res.Header.Get("Cache-Control") != "no-cache" || strings.Contains(b, "npm run build") {
			t.Errorf("built binary served the fallback page")
		}
	} else if !strings.Contains(b, "npm run build") {
		t.Errorf("unbuilt binary did not serve the fallback page")
	}
}
