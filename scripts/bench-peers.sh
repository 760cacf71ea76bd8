#!/usr/bin/env bash
# The side-by-side table of docs/PERFORMANCE.md: StreamHub, nats-server's
# WebSocket listener, Centrifugo and Bun, one "hub bench --target all" run
# per case (the four brokers one after the other, each in a child process
# on loopback), so that ratios between them come from one machine state.
# Results (tables, JSON, the load before each case) go to $OUT (default
# bench-results/peers-<UTC time>). About 10 minutes.
#
# Bun and Centrifugo are optional: a missing one is left out, in one line.
#   npm install @oven/bun-linux-x64            # then BUN=node_modules/@oven/bun-linux-x64/bin/bun
#   go install github.com/centrifugal/centrifugo/v6@v6.9.1   # then CENTRIFUGO=$(go env GOPATH)/bin/centrifugo
#
#   scripts/bench-peers.sh                      # every case
#   CASES="1000x100 1000x2000" scripts/bench-peers.sh
#   DURATION=20s scripts/bench-peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-bench-results/peers-$(date -u +%Y%m%dT%H%M%SZ)}
duration=${DURATION:-15s}
cases=${CASES:-1000x100 1000x2000 5000x100 10000x100}
mkdir -p "$out"

step() { printf '\n==> %s\n' "$*"; }

peers=()
[ -n "${BUN:-}" ] && peers+=(--bun "$BUN")
[ -n "${CENTRIFUGO:-}" ] && peers+=(--centrifugo "$CENTRIFUGO")

step "machine"
{
	echo "nproc: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	go version
	echo "open files: soft $(ulimit -Sn), hard $(ulimit -Hn)"
	date -u
} | tee "$out/machine.txt"

step "build"
go build -o "$out/hub" ./cmd/hub

# Every client subscribes to the one subject; StreamHub drops oldest (it
# delivers everything or announces the loss), the peers have no policy.
for c in $cases; do
	clients=${c%x*}
	rate=${c#*x}
	step "$clients clients x $rate msg/s"
	echo "$c: $(date -u +%H:%M:%S) $(uptime)" | tee -a "$out/load.txt" # other work on the machine skews everything
	# A broker that fails is one line in the output; the other cases go on.
	"$out/hub" bench --target all "${peers[@]}" --clients "$clients" --subjects 1 --rate "$rate" \
		--duration "$duration" --policy drop-oldest --out "$out/$c.json" 2>&1 | tee "$out/$c.txt" || true
done

step "done: $out"
