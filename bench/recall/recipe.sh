#!/usr/bin/env bash
# bench/recall/recipe.sh [SEED] [OUT]: the associative-recall recipe of README's "Associative recall" section, from
# scratch with ./infini train, then the recall table with memory on, off and foreign.
#   2 layers, hidden 128, 2 heads of 64, delta memory, token shift (beyond the paper: docs/spec.md), segments of 32;
#   1-8 pairs, gaps 0-2; 6,000 steps of 32 samples, one cosine schedule at peak lr 2e-3, no weight decay
#   (about 36 min on a quiet 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED="${1:-1}"
OUT="${2:-runs/recall/seed$SEED}"
time ./infini train --corpus recall --segment 32 --preset tiny --hidden 128 --layers 2 --heads 2 --kv-heads 2 \
  --head-dim 64 --intermediate 512 --memory-update delta --token-shift --pairs 1-8 --gaps 0,1,2 --batch 32 \
  --steps 6000 --warmup 50 --lr 2e-3 --weight-decay 0 --eval-every 500 --checkpoint-every 500 --seed "$SEED" --out "$OUT"
./infini recall --model "$OUT/checkpoint" --pairs 8 --gaps 0,1,2,4,8,16 --trials 100 --memory on,off,foreign --by-query
