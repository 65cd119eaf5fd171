#!/usr/bin/env bash
# Training benchmarks of issue 4: tokens/s and peak resident memory of the tiny preset at seq_len 4096 and
# 65536 (segment 256, batch 1), both memory-gradient modes, one JVM per configuration; then the same model
# trained by the reference algorithm in PyTorch side by side, in one run.
# PyTorch: Debian's python3-torch, which uses the reference BLAS unless OpenBLAS is installed (5 against
# ~130 GFLOP/s here): apt-get install python3-torch libopenblas0-pthread
# Usage: bash bench/train-bench.sh [out.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/results/train-bench.jsonl}"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"
./infini --version >/dev/null   # builds the tool if needed
for mode in full truncated; do
  ./infini bench train --seq-len 4096 --steps 3 --memory-gradient "$mode" 2>/dev/null | tail -1 | tee -a "$OUT"
  ./infini bench train --seq-len 65536 --steps 1 --memory-gradient "$mode" 2>/dev/null | tail -1 | tee -a "$OUT"
done
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 bench/pytorch_reference.py --seq-len 4096 --steps 3 | tee -a "$OUT"
  ./infini bench train --seq-len 4096 --steps 3 --memory-gradient truncated 2>/dev/null | tail -1 | tee -a "$OUT"
  /usr/bin/python3 bench/pytorch_reference.py --seq-len 4096 --steps 3 --full | tee -a "$OUT"
  ./infini bench train --seq-len 4096 --steps 3 --memory-gradient full 2>/dev/null | tail -1 | tee -a "$OUT"
else
  echo "python3-torch not installed: PyTorch comparison skipped" >&2
fi
