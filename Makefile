# StreamHub: the two commands a newcomer needs are `make run` and `make test`.
# Both work on a fresh machine with Go and Node.js; `make test` also needs a
# Chromium (Debian: apt-get install chromium) for the browser tests.

.PHONY: run test soak web hub clean

# The version and commit that `hub version` and the streamhub_build_info
# metric report.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Build the dashboard when its sources are newer than the build, then build
# the hub and run it with demo feeds on http://127.0.0.1:8080 (embedded NATS
# on 127.0.0.1:4222); more flags with ARGS='…'. exec hands the terminal's
# Ctrl-C to the hub itself, which shuts down in order and exits 0.
run: hub
	exec ./bin/hub serve --demo $(ARGS)

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
	go build -ldflags '$(LDFLAGS)' -o bin/hub ./cmd/hub

clean:
	rm -rf bin web/static/app web/client/dist
