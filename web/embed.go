package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:static
var embedded embed.FS

// appDir is the directory, inside the embedded tree, that Vite builds into.
const appDir = "app"

// Cache-Control values, one per kind of file.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	cacheNever      = "no-store"
)

// contentTypes pins the types of the files a Vite build produces, so that the
// answer does not depend on the host's mime.types.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

// indexCSP is the Content-Security-Policy of the dashboard page: its own
// scripts only, WebSocket and fetch to the same origin.
const indexCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler returns the http.Handler that serves the embedded dashboard at "/"
// (mount it as the catch-all route). It answers GET and HEAD only. It is safe
// for concurrent use; the embedded files are read-only.
func Handler() http.Handler {
	return newHandler(staticFS())
}

// Built reports whether the binary embeds a built dashboard (static/app/index.html).
func Built() bool {
	_, err := fs.Stat(staticFS(), path.Join(appDir, "index.html"))
	return err == nil
}

func staticFS() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		// fs.Sub fails only on an invalid path; "static" is valid.
		panic("web: " + err.Error())
	}
	return sub
}

// handler serves files from app/ of its file system, or the fallback page
// when app/index.html is missing.
type handler struct {
	app   fs.FS             // nil when the assets were not built
	etags map[string]string // file name in app → strong ETag
}

// newHandler builds a handler over fsys, whose root holds app/ when the
// dashboard was built. ETags are computed once here.
func newHandler(fsys fs.FS) http.Handler {
	h := &handler{etags: map[string]string{}}
	app, err := fs.Sub(fsys, appDir)
	if err != nil {
		return h
	}
	if _, err := fs.Stat(app, "index.html"); err != nil {
		return h
	}
	h.app = app
	_ = fs.WalkDir(app, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(app, name)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(b)
		h.etags[name] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h.app == nil {
		if name == "index.html" {
			serveFallback(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	if err := h.serveFile(w, r, name); err != nil {
		http.NotFound(w, r)
	}
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name string) error {
	etag, ok := h.etags[name]
	if !ok {
		return fs.ErrNotExist // also directories and names outside app/
	}
	f, err := h.app.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	content, err := readSeeker(f)
	if err != nil {
		return err
	}
	hdr := w.Header()
	if ct, ok := contentTypes[path.Ext(name)]; ok {
		hdr.Set("Content-Type", ct)
	}
	switch {
	case name == "index.html":
		hdr.Set("Cache-Control", cacheRevalidate)
		hdr.Set("Content-Security-Policy", indexCSP)
		hdr.Set("Referrer-Policy", "no-referrer")
	case strings.HasPrefix(name, "assets/"):
		hdr.Set("Cache-Control", cacheImmutable)
	default:
		hdr.Set("Cache-Control", cacheRevalidate)
	}
	hdr.Set("ETag", etag)
	// http.ServeContent (not ServeFileFS, which redirects /index.html to /)
	// answers If-None-Match, Range and HEAD.
	http.ServeContent(w, r, name, time.Time{}, content)
	return nil
}

func readSeeker(f fs.File) (io.ReadSeeker, error) {
	if rs, ok := f.(io.ReadSeeker); ok {
		return rs, nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("web: read asset: %w", err)
	}
	return bytes.NewReader(b), nil
}
