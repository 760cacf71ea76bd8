package web

import "net/http"

// fallbackPage is served at "/" when the binary was built without the
// dashboard assets.
const fallbackPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>StreamHub: dashboard not built</title>
<style>
body{background:#0d1117;color:#c9d1d9;font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code,pre{background:#161b22;border-radius:4px;padding:.15rem .35rem}
pre{padding:.75rem 1rem;overflow-x:auto}
</style>
</head>
<body>
<h1>StreamHub is running</h1>
<p>This hub binary was built without the dashboard assets, so there is nothing to show here yet.
The WebSocket endpoint <code>/v1/ws</code> works as usual.</p>
<p>To build the dashboard, run from the repository root (needs Node.js 20.19 or newer):</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then rebuild and restart the hub: the assets are embedded into the binary at build time.</p>
</body>
</html>
`

// serveFallback writes the build instructions with status 200 and no-store,
// so the page is not cached once the assets exist.
func serveFallback(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", cacheNever)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(fallbackPage))
	}
}
