#!/usr/bin/env bash
# Runs Doorstep's whole test suite on a fresh machine:
#   - installs moto (AWS-protocol server), cfn-lint and phonenumbers into .venv, and cargo-nextest
#     if missing;
#   - writes the phone parser's cases with libphonenumber's answers (scripts/phone_cases.py);
#   - lints template.yaml with cfn-lint;
#   - starts moto on a free loopback port, runs every Rust test against it, stops it.
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "Python tools (moto, cfn-lint, phonenumbers) into .venv"
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

log "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

log "Starting moto on loopback"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
mkdir -p target
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    cat target/moto.log
    echo "moto exited before it was ready" >&2
    exit 1
  fi
  sleep 0.2
done
export DOORSTEP_MOTO_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

log "cargo nextest (moto at $DOORSTEP_MOTO_URL)"
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
