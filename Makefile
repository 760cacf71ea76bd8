# StreamHub: the two commands a newcomer needs are `make run` and `make test`.
# Both work on a fresh machine with Go and Node.js; `make test` also needs a
# Chromium (Debian: apt-get install chromium) for the browser tests.

.PHONY: run test web hub clean

# Build the dashboard when its sources are newer than the build, then run the
# hub with demo feeds on http://127.0.0.1:8080 (embedded NATS on 127.0.0.1:4222).
run: web
	go run ./cmd/hub serve --demo $(ARGS)

test:
	./scripts/test.sh

web: web/static/app/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/static/app/index.html: web/node_modules/.package-lock.json $(shell find web/client web/dashboard -type f ! -path '*/dist/*' 2>/dev/null) web/vite.config.ts web/tsconfig.json
	cd web && npm run build

hub: web
	go build -o bin/hub ./cmd/hub

clean:
	rm -rf bin web/static/app web/client/dist
