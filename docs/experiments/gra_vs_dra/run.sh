#!/usr/bin/env bash
# G-RA vs D-RA vs outcome-only on SmolLM2-135M-Instruct, StallOrSubmit as a text task (CPU, small).
# Usage: bash docs/experiments/gra_vs_dra/run.sh [OUT_DIR] [TIME_LIMIT_S] [STEPS]
# Runs the 3 arms x 2 seeds in parallel (1 torch thread each), every run with the same step budget
# and a hard wall-clock limit; each run writes OUT_DIR/<arm>-s<seed>/metrics.jsonl.
set -u
OUT=${1:-runs/gra_vs_dra}
LIMIT=${2:-4200}
STEPS=${3:-25}
mkdir -p "$OUT"
SYSTEM="Reply with exactly one word: submit, work or noop. After two or three units of work, reply submit."
for seed in 0 1; do
  for arm in gated direct outcome; do
    timeout -k 30 $((LIMIT + 300)) python -m agentgym.cli.train \
      --env agentgym/StallOrSubmit-v0 --policy smollm2 --reward "$arm" --seed "$seed" \
      --out "$OUT/$arm-s$seed" --steps "$STEPS" --groups 2 --group-size 4 \
      --lr 1e-4 --temperature 2.0 --max-new-tokens 4 --actions work,noop,submit \
      --system-prompt "$SYSTEM" --env-arg max_turns=5 --trainable-layers 4 \
      --threads 1 --time-limit "$LIMIT" >"$OUT/$arm-s$seed.log" 2>&1 &
  done
done
wait
