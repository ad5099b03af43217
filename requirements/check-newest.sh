#!/usr/bin/env bash
# The newest versions pyproject.toml allows, in a throw-away venv: does the CLI still work?
#
#   requirements/check-newest.sh        (or: make check-newest)
#
# The lock files pin what CI tests; this catches the next upstream release that breaks edgetl on the
# day it ships (as typer 0.29 did by no longer installing click), before a user meets it. It installs
# the [pi,dev] set unpinned (no TensorFlow: its minor version is pinned in pyproject.toml anyway), then
# runs the CLI contract test when the checkout has one, else the console script with --help and with
# usage errors, and fails on any traceback. Prints the versions that differ from requirements/pi.txt.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$REPO"

"$PYTHON" -m venv "$WORK/venv"
BIN="$WORK/venv/bin"
"$BIN/pip" install --quiet --upgrade pip
"$BIN/pip" install --quiet --upgrade --upgrade-strategy eager ".[pi,dev]"
echo "newest allowed: $("$BIN/pip" freeze --exclude-editable | grep -Ei '^(typer|rich|click|numpy|opencv-python-headless|ai-edge-litert|pillow)==' | tr '\n' ' ')"

export PATH="$BIN:$PATH"
if [ -f tests/test_cli_contract.py ]; then
  "$BIN/python" -m pytest -q -p no:cacheprovider tests/test_cli_contract.py
  exit
fi

# no contract test in this checkout: the console script itself, with help and with usage errors
failed=0
expect() {  # expect CODE ARGS...: exit status CODE and no traceback
  local want="$1" out rc=0
  shift
  out="$(cd "$WORK" && edgetl "$@" 2>&1)" || rc=$?
  if [ "$rc" -ne "$want" ] || grep -q Traceback <<<"$out"; then
    echo "FAILED: edgetl $* exited $rc (expected $want)$(grep -q Traceback <<<"$out" && echo ', with a traceback'):"
    tail -n 3 <<<"$out" | sed 's/^/    /'
    failed=1
  fi
}
expect 0 --help
expect 0 run --help
expect 0 data check --help
expect 2 export
expect 2 data check --bogus
expect 2 run --model
[ "$failed" -eq 0 ] && echo "newest allowed versions: the CLI answers help and usage errors without a traceback"
exit "$failed"
