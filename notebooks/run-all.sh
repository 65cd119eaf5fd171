#!/usr/bin/env bash
# notebooks/run-all.sh [NOTEBOOK.ipynb ...]: executes the notebooks (default: all NN-*.ipynb here, in order)
# headless and in place, so that they keep the outputs of this run, with machine paths in the outputs made relative
# to the repository (relative-paths.py). Run notebooks/setup.sh first.
#
# A cell that raises an error fails the run (exit code 1, the error printed) and leaves that notebook as it was.
# rapaio-jupyter-kernel 3.0.1 sometimes never answers its first request (a start-up race in the kernel's channel
# threads, see setup.sh); only that is retried: a start that does not answer within STARTUP_TIMEOUT seconds (it
# answers within 1-2 s when it works) is tried again, up to KERNEL_START_TRIES times.
#
# Environment: JUPYTER (default: jupyter on PATH), STARTUP_TIMEOUT (s, default 15), CELL_TIMEOUT (s per cell,
# default 600), KERNEL_START_TRIES (default 8), KERNEL (a kernel name instead of the notebooks' infini-java).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
JUPYTER="${JUPYTER:-jupyter}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-15}"
CELL_TIMEOUT="${CELL_TIMEOUT:-600}"
TRIES="${KERNEL_START_TRIES:-8}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"

if [ ! -f infini-classpath.jar ]; then
  echo "run-all: notebooks/infini-classpath.jar is missing: run notebooks/setup.sh first" >&2
  exit 1
fi
if [ $# -eq 0 ]; then
  set -- [0-9][0-9]-*.ipynb
fi
args=(--to notebook --execute --inplace --ExecutePreprocessor.record_timing=False
      "--ExecutePreprocessor.startup_timeout=$STARTUP_TIMEOUT" "--ExecutePreprocessor.timeout=$CELL_TIMEOUT")
[ -n "${KERNEL:-}" ] && args+=("--ExecutePreprocessor.kernel_name=$KERNEL")

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
total_start=$SECONDS
for nb in "$@"; do
  for ((try = 1; ; try++)); do
    start=$SECONDS
    if "$JUPYTER" nbconvert "${args[@]}" "$nb" >"$log" 2>&1; then
      echo "run-all: $nb ran in $((SECONDS - start)) s"
      python3 relative-paths.py "$nb"     # outputs show paths relative to the repository (the kernel's %jar line)
      break
    fi
    # A kernel that never answered: no cell ran. Anything else (a cell error, a kernel that died while running a
    # cell, a cell timeout) is a failure of the notebook.
    if grep -qE "Kernel didn't respond in [0-9]+ seconds|Kernel died before replying to kernel_info" "$log" \
        && ! grep -qE "CellExecutionError|CellTimeoutError|DeadKernelError" "$log"; then
      if [ "$try" -lt "$TRIES" ]; then
        echo "run-all: $nb: the kernel did not start (try $try of $TRIES, $((SECONDS - start)) s); starting it again"
        continue
      fi
      echo "run-all: $nb: the kernel did not start in $TRIES tries" >&2
    else
      echo "run-all: $nb FAILED after $((SECONDS - start)) s:" >&2
    fi
    # The error itself (nbclient's message with the cell and the Java error), not Python's traceback above it.
    grep -vE '^\[[0-9-]+ [0-9:]+\] \[INFO' "$log" | awk 'found || /^[A-Za-z_.]*(Error|Exception)(: |$)/ { found = 1; print }' \
      | tail -60 >&2
    grep -qE '^[A-Za-z_.]*(Error|Exception)(: |$)' "$log" || tail -40 "$log" >&2
    exit 1
  done
done
echo "run-all: $# notebook(s) in $((SECONDS - total_start)) s"
