#!/usr/bin/env bash
# Runs Doorstep's whole test suite on a fresh machine:
#   - installs moto (AWS-protocol server), cfn-lint, the SAM translator and phonenumbers into
#     .venv, and cargo-nextest if missing;
#   - writes the phone parser's cases with libphonenumber's answers (scripts/phone_cases.py);
#   - lints template.yaml with cfn-lint, and what SAM's translator makes of it
#     (scripts/check_template.py);
#   - starts moto on a free loopback port, and a second one that checks signatures
#     (scripts/moto_auth.py), runs every Rust test against them, stops them.
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "Python tools (moto, cfn-lint, the SAM translator, phonenumbers) into .venv"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt

if ! cargo nextest --version >/dev/null 2>&1; then
  log "Installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

log "Headless browser (Debian's chromium, Thai fonts, node + playwright-core)"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-thai-tlwg >/dev/null 2>&1 || missing+=(fonts-thai-tlwg)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
want=$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' tests/browser/package.json)
have=$(node -p 'require("./tests/browser/node_modules/playwright-core/package.json").version' 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  (cd tests/browser && npm install --no-package-lock --no-audit --no-fund --silent)
fi

log "Phone cases with libphonenumber's own answers (its Python port) for the phone parser's test"
mkdir -p target
.venv/bin/python scripts/phone_cases.py target/phone_cases.jsonl

log "cfn-lint template.yaml, then the template as SAM transforms it (scripts/check_template.py)"
.venv/bin/cfn-lint template.yaml
.venv/bin/python scripts/check_template.py template.yaml

log "Starting moto on loopback (two servers: the shared one, and one that checks signatures)"
mkdir -p target
moto_pids=()
trap 'for pid in "${moto_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done' EXIT
# start_moto NAME: a moto server on a free loopback port, logging to target/NAME.log; prints its URL.
start_moto() {
  local name=$1 port pid
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"target/$name.log" 2>&1 &
  pid=$!
  moto_pids+=("$pid")
  for _ in $(seq 1 100); do
    if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      MOTO_STARTED="http://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "target/$name.log"
      echo "moto ($name) exited before it was ready" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "moto ($name) did not answer within 20 s" >&2
  exit 1
}
start_moto moto
export DOORSTEP_MOTO_URL=$MOTO_STARTED
# A test switches this one's authentication on (moto then verifies every request's SigV4
# signature with botocore's signer), so it is kept apart from the shared server.
start_moto moto-auth
export DOORSTEP_MOTO_AUTH_URL=$MOTO_STARTED
eval "$(.venv/bin/python scripts/moto_auth.py "$DOORSTEP_MOTO_AUTH_URL")"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

log "cargo nextest (moto at $DOORSTEP_MOTO_URL)"
# The runner tests' outbox files from the last run (the build's scratch directory, CARGO_TARGET_TMPDIR).
rm -rf "${CARGO_TARGET_DIR:-target}/tmp/outboxes"
set +e
cargo nextest run --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee target/nextest.log
status=${PIPESTATUS[0]}
set -e
# One plain closing line, whatever the runner printed last.
summary=$(grep -E '^ *Summary .* tests run:' target/nextest.log | tail -n 1)
passed=$(sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p' <<<"$summary")
failed=$(sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p' <<<"$summary")
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
