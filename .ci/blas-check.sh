#!/usr/bin/env bash
# ./infini with Debian's multi-threaded OpenBLAS (installed here when missing) and with ND4J's bundled one: the same
# 5 training steps must give the same losses (to 3 decimals; the libraries round differently), so the faster library
# that ./infini picks when it is present is held to the bundled one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 ] && [ "$(uname -m)" = x86_64 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
losses() {
  INFINI_BLAS="$1" ./infini train --steps 5 --eval-every 5 --out "$out/$1" 2>/dev/null | grep '^{' | tail -1 \
    | python3 -c 'import json, sys; d = json.loads(sys.stdin.read()); print("%.3f %.3f" % (d["train_loss"], d["val_loss"]))'
}
sys=$(losses system)
bundled=$(losses bundled)
echo "blas-check: system OpenBLAS losses $sys, bundled $bundled"
[ "$sys" = "$bundled" ] || { echo "blas-check: the two libraries disagree" >&2; exit 1; }
