#!/usr/bin/env bash
# bench/recall/recipe.sh [SEED] [OUT]: the associative-recall recipe of README's "Associative recall" section, from
# scratch with ./infini train, then the recall table with memory on, off and foreign.
#   stage 1: 2 layers, hidden 128, 2 heads of 64, delta memory, segments of 32; 1-8 pairs, gaps 0-2, 1,500 steps
#   stage 2: the same data, 3,000 more steps from stage 1's weights (a fresh optimizer and schedule)
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED="${1:-1}"
OUT="${2:-runs/recall-seed$SEED}"
SHAPE=(--preset tiny --hidden 128 --layers 2 --heads 2 --kv-heads 2 --head-dim 64 --intermediate 512 --memory-update delta)
DATA=(--corpus recall --segment 32 --pairs 1-8 --gaps 0,1,2 --batch 32 --lr 2e-3 --warmup 50 --eval-every 100 --checkpoint-every 100)
time ./infini train "${SHAPE[@]}" "${DATA[@]}" --steps 1500 --seed "$SEED" --out "$OUT/stage1"
time ./infini train --init "$OUT/stage1/checkpoint" "${DATA[@]}" --steps 3000 --seed "$((SEED + 10))" --out "$OUT/stage2"
./infini recall --model "$OUT/stage2/checkpoint" --pairs 8 --gaps 0,1,2,4,8,16 --trials 100 --memory on,off,foreign
