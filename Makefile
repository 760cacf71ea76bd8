# StreamHub: the two commands a newcomer needs are `make run` and `make test`.
# Both work on a fresh machine with Go and Node.js; `make test` also needs a
# Chromium (Debian: apt-get install chromium) for the browser tests.

.PHONY: run test soak web hub clean

# Build the dashboard when its sources are newer than the build, then run the
# hub with demo feeds on http://127.0.0.1:8080 (embedded NATS on 127.0.0.1:4222).
run: web
	go run ./cmd/hub serve $(ARGS)

test:
	./scripts/test.sh

# The model-based test of the delivery contract, driven for $(SOAK) instead of
# the 20 s it gets in `make test`; a failure prints its seed, to rerun with
# STREAMHUB_MODEL_SEED=<seed> make soak.
SOAK ?= 5m
soak: web
	STREAMHUB_MODEL_DURATION=$(SOAK) go test -race -count=1 -v -run '^TestDeliveryContractModel$$' -timeout 60m ./internal/server

web: web/static/app/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/static/app/index.html: web/node_modules/.package-lock.json $(shell find web/client web/dashboard -type f ! -path '*/dist/*' 2>/dev/null) web/vite.config.ts web/tsconfig.json
	cd web && npm run build

hub: web
	go build -o bin/hub ./cmd/hub

clean:
	rm -rf bin web/static/app web/client/dist
