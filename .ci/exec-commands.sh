#!/usr/bin/env bash
# Runs every `mvn ... exec:java ...` command documented in README.md, datasets/README.md, docs/*.md and notebooks/*.md
# as written, except that the program's arguments become --help (-Dexec.args="train ..." -> "train --help"), and checks
# that each one exits 0 and prints a "Usage:" line: a command that silently runs nothing (exec.skip, a main class that
# does not yield to -Dexec.mainClass) fails here. Extra Maven flags: MVN_FLAGS (e.g. MVN_FLAGS=-o).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t commands < <(grep -ho 'mvn [^`]*exec:java[^`]*' README.md datasets/README.md docs/*.md notebooks/*.md \
  2>/dev/null | sort -u)
if [ ${#commands[@]} -lt 2 ]; then
  echo "exec-commands: expected at least 2 documented exec:java commands, found ${#commands[@]}" >&2
  exit 1
fi
failed=0
for doc in "${commands[@]}"; do
  if [[ "$doc" =~ -Dexec\.args=\"([^\ \"]+)[^\"]*\" ]]; then
    cmd="${doc/${BASH_REMATCH[0]}/-Dexec.args=\"${BASH_REMATCH[1]} --help\"}"
  else
    cmd="$doc -Dexec.args=--help"
  fi
  cmd="${cmd/mvn /mvn -B ${MVN_FLAGS:-} }"
  echo "exec-commands: $cmd"
  if ! out=$(eval "$cmd" 2>&1) || ! grep -q 'Usage:' <<<"$out"; then
    echo "exec-commands: FAILED (no Usage: line or a non-zero exit): $doc" >&2
    tail -20 <<<"$out" >&2
    failed=1
  fi
done
exit $failed
