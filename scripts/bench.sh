#!/usr/bin/env bash
# Reproduces the numbers of docs/PERFORMANCE.md: the fan-out core's
# benchmarks, then "hub bench" end to end against StreamHub and against
# nats-server's own WebSocket listener, each broker in a child process on
# loopback. Results (tables, JSON, the machine's description) go to
# $OUT (default bench-results/<UTC time>). About 15 minutes with REPEAT=3.
#
#   scripts/bench.sh                 # the whole matrix once
#   REPEAT=3 scripts/bench.sh        # three times, to see the noise
#   DURATION=20s scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
repeat=${REPEAT:-1}
duration=${DURATION:-10s}
mkdir -p "$out"

step() { printf '\n==> %s\n' "$*"; }

step "machine"
{
	echo "nproc: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	go version
	date -u
} | tee "$out/machine.txt"

step "build"
go build -o "$out/hub" ./cmd/hub

step "fan-out core benchmarks"
go test -run '^$' -bench . -benchtime 3s -count "$repeat" ./internal/fanout/ | tee "$out/fanout.txt"

run() { # name, then hub bench flags
	local name=$1
	shift
	for i in $(seq 1 "$repeat"); do
		step "$name (run $i of $repeat)"
		echo "$name $i: $(uptime)" >>"$out/load.txt" # other work on the machine skews everything
		"$out/hub" bench --duration "$duration" --clients 200 --subjects 20 --out "$out/$name.$i.json" "$@" | tee -a "$out/$name.txt"
	done
}

# Each client watches one of 20 subjects: 10 clients per message.
for enc in json msgpack; do
	for rate in 1000 5000; do
		run "one-$enc-$rate" --encoding "$enc" --rate "$rate"
		run "one-$enc-$rate-drop-oldest" --encoding "$enc" --rate "$rate" --policy drop-oldest --target streamhub
	done
done
# Every client watches every subject: 200 clients per message.
for enc in json msgpack; do
	run "all-$enc-1000" --encoding "$enc" --rate 1000 --subscribe all
	run "all-$enc-1000-drop-oldest" --encoding "$enc" --rate 1000 --subscribe all --policy drop-oldest --target streamhub
done

step "done: $out"
