#!/usr/bin/env bash
# Performance figures, reproducibly, each beside its baseline from the same run: release binary
# sizes and the cold-start/latency/RSS probe (scripts/coldstart.py, against moto) beside a
# hello-world lambda_runtime binary built with the same profile, and each function's init CPU time
# against the hello-world's (`--cold`, needs perf) and its user-space instructions, which do not
# move with the machine's load (`--instructions`, needs valgrind); the criterion benchmarks of
# verify + parse + normalize beside the same work in Python's standard library
# (scripts/py_webhook_path.py); and the simulator's trust and cost report (SQLite month, then a
# month of fewer orders on DynamoDB-on-moto with capacity units and prices).
# Usage: scripts/bench.sh [--no-criterion]   (SIM_ORDERS, SIM_AWS_ORDERS, SIM_AWS_DAYS, COLD_STARTS to resize;
# SIM_END=YYYY-MM-DD runs the months that ended that day, to compare with a published figure)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt

echo "== release build (opt-level s, fat LTO, codegen-units 1, panic=abort, stripped, position-dependent as .cargo/config.toml builds the Lambdas)"
bins=(doorstep-hello carrier-webhook store-webhook notifier scheduler email-feedback preferences tracking-page manage-page admin-api merchant-webhook)
# The Lambdas as `sam build` makes them (.cargo/config.toml), for this machine's architecture.
host=$(rustc -vV | sed -n 's/^host: //p')
lambdas="target/$host/release"
env "CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=-C relocation-model=static" \
  cargo build --release --target "$host" $(printf -- '-p %s ' "${bins[@]}")
cargo build --release -p doorstep-local
ln -sf "$PWD/target/release/doorstep-local" "$lambdas/doorstep-local"
for bin in "${bins[@]}" doorstep-local; do
  size=$(stat -c %s "$lambdas/$bin")
  hello=$(stat -c %s "$lambdas/doorstep-hello")
  awk -v b="$bin" -v s="$size" -v h="$hello" 'BEGIN { printf "%-16s %9d bytes  %5.2f MiB  %5.1fx hello-world\n", b, s, s / 1048576, s / h }'
done

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >target/moto-bench.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null && break
  sleep 0.2
done

echo "== cold start and warm latency (Lambda Runtime API emulated on loopback, moto behind)"
DOORSTEP_MOTO_URL="http://127.0.0.1:$port" .venv/bin/python scripts/coldstart.py "$lambdas" "${WARM_INVOCATIONS:-200}"
if command -v perf >/dev/null 2>&1; then
  echo "== init CPU time against the hello-world's (perf stat task-clock, interleaved cold starts)"
  DOORSTEP_MOTO_URL="http://127.0.0.1:$port" .venv/bin/python scripts/coldstart.py "$lambdas" --cold "${COLD_STARTS:-30}"
else
  echo "== (no perf on this machine: init CPU time skipped)"
fi
if command -v valgrind >/dev/null 2>&1; then
  echo "== init instructions in user space against the hello-world's (callgrind; the same on every run)"
  DOORSTEP_MOTO_URL="http://127.0.0.1:$port" .venv/bin/python scripts/coldstart.py "$lambdas" --instructions
else
  echo "== (no valgrind on this machine: init instructions skipped)"
fi

echo "== the schedule's index: the points-expiry job on 1,000,000 lots (SQLite) and on moto"
cargo bench -p doorstep-embedded --bench due_index 2>&1 | grep -E '^(SQLite|points-expiry)'
DOORSTEP_MOTO_URL="http://127.0.0.1:$port" cargo bench -p doorstep-aws --bench due_index 2>&1 | grep -E '^(DynamoDB|points-expiry)'

if [ "${1:-}" != "--no-criterion" ]; then
  echo "== criterion: verify + parse + normalize per provider (baseline: serde_json::Value parse)"
  cargo bench -p doorstep-core --bench providers --bench notify --bench tracking -- --noplot 2>&1 | grep -E '^(carrier|store|notify|tracking)|time:'
  echo "== the same webhook path in Python's standard library (verify, json.loads, normalize)"
  .venv/bin/python scripts/py_webhook_path.py
fi

echo "== the simulator: a month on SQLite, then a smaller one (fewer orders) on DynamoDB-on-moto, priced"
# A whole month on moto too (about 13 minutes): a shorter one stops while parcels are on their
# way and prices only part of their lives (docs/simulator.md).
end=()
if [ -n "${SIM_END:-}" ]; then end=(--end "$SIM_END"); fi
cargo run --release -p doorstep-sim -- --orders "${SIM_ORDERS:-10000}" --days 30 --seed 1 --out target/sim "${end[@]}"
cargo run --release -p doorstep-sim -- --orders "${SIM_AWS_ORDERS:-300}" --days "${SIM_AWS_DAYS:-30}" --seed 1 "${end[@]}" \
  --out target/sim-aws --aws "http://127.0.0.1:$port"
