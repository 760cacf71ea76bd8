#!/usr/bin/env bash
# Runs every test StreamHub has: Go (with -race, goleak in every package),
# short fuzzing of every decoder of client input, the TypeScript unit tests,
# and the browser end-to-end tests against the real hub binary in headless
# Chromium. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The browser tests come last but need Chromium: find it first, so that a
# missing one is said in the first second, not after every other test.
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ] || [ ! -x "$CHROMIUM" ]; then
  echo "make test needs Chromium for the browser tests, and none was found." >&2
  echo "Install it (Debian/Ubuntu: sudo apt-get install chromium) or point CHROMIUM at one." >&2
  exit 1
fi

step "web: install and build (the hub embeds the build)"
make web

step "go vet"
go vet ./...

step "go test -race"
go test -race -count=1 -timeout 10m ./...

step "cluster tests: three nats-server nodes and two hubs as child processes, killed, frozen and restarted"
# internal/clustertest skips itself without STREAMHUB_CLUSTER_TESTS (so the
# step above passes over it quickly); about 1.5 min here, mostly waiting.
STREAMHUB_CLUSTER_TESTS=1 go test -race -count=1 -timeout 10m ./internal/clustertest/

step "fuzz the decoders of client input (short runs)"
# A count of executions, not a duration: Go 1.26's fuzz coordinator can
# report a bare "context deadline exceeded" when a duration runs out while a
# worker is busy on a loaded machine (go.dev/issue/75804), with no input at
# fault. A real finding is written to testdata/fuzz and fails either way.
# 30,000 inputs per target keeps the CI run within its budget with some 25
# targets; FUZZTIME=1000000x (or a duration) fuzzes longer by hand.
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-30000x}" "$1"; }
fuzz ./internal/protocol FuzzDecodeCommandJSON
fuzz ./internal/protocol FuzzDecodeCommandMsgpack
fuzz ./internal/protocol FuzzCheckMsgpack
fuzz ./internal/subject FuzzValidatePattern
fuzz ./internal/subject FuzzValidSubjectsAreValidInNATS
fuzz ./internal/server FuzzParsePublish
fuzz ./internal/server FuzzParseNDJSON
fuzz ./internal/protocol FuzzParseSSEEventID
fuzz ./internal/protocol FuzzDecodeSSEQuery
fuzz ./internal/auth FuzzParseSignature
fuzz ./internal/server FuzzParseAdminCreate
fuzz ./internal/tracing FuzzParseTraceparent
fuzz ./internal/upstream/venue FuzzDecimal
fuzz ./internal/upstream/venue/coinbase FuzzHandle
fuzz ./internal/upstream/venue/binance FuzzHandle
fuzz ./internal/upstream/venue/kraken FuzzHandle
fuzz ./internal/upstream/evm FuzzDecodeBlock
fuzz ./internal/upstream/evm FuzzDecodeLogs
fuzz ./internal/upstream/evm FuzzDecodeTokenAnswers
fuzz ./internal/loadgen FuzzPeerFrame

step "web: unit tests (vitest)"
(cd web && npm test)

step "browser end-to-end tests against the built hub"
go build -o bin/hub ./cmd/hub
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
# A free loopback port for the hub under test (the e2e restarts it on the same one).
port=${E2E_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18089)}
(cd web && CHROMIUM="$CHROMIUM" HUB_URL="http://127.0.0.1:$port" \
  HUB_CMD="../bin/hub serve --demo --listen 127.0.0.1:$port --nats-listen 127.0.0.1:-1 --data-dir $data" \
  SCREENSHOT="${SCREENSHOT:-$data/dashboard.png}" npm run test:e2e)

step "all tests passed"
