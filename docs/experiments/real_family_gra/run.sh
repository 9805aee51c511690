#!/bin/bash
# G-RA vs D-RA vs outcome-only on ToolUse-v0 (files world), after the SFT warm start.
# usage: bash docs/experiments/real_family_gra/run.sh RUN_DIR TIME_LIMIT_S STEPS [SEEDS] [LR]
# Every arm: the same SFT checkpoint, the same step budget and wall-clock limit, one torch thread,
# all runs in parallel under `nice -n 15`; then each final checkpoint is evaluated on the test split.
set -u
RUN=${1:-runs/real_family_gra}; LIMIT=${2:-1800}; STEPS=${3:-20}; SEEDS=${4:-"0 1"}; LR=${5:-1e-4}
HERE=$(cd "$(dirname "$0")" && pwd)
SPEC=$HERE/spec_farmable.yaml
PY=${PYTHON:-python}  # e.g. PYTHON="python /path/to/launcher.py" to run from a frozen copy of the tree
mkdir -p "$RUN/specs"
for mode in gated direct outcome; do
  sed "s/^mode: gated$/mode: $mode/" "$SPEC" > "$RUN/specs/$mode.yaml"
done
for mode in gated direct outcome; do
  for seed in $SEEDS; do
    out=$RUN/grpo-$mode-s$seed
    rm -rf "$out"
    timeout $((LIMIT + 900)) nice -n 15 $PY -m agentgym.cli.train --env agentgym/ToolUse-v0 \
      --env-arg world=files --env-arg split=train --env-arg max_turns=5 \
      --policy "$RUN/sft/checkpoint-last" --reward "$RUN/specs/$mode.yaml" --seed "$seed" --out "$out" \
      --steps "$STEPS" --groups 1 --group-size 4 --max-new-tokens 64 --temperature 1.0 --lr "$LR" \
      --trainable-layers 4 --threads 1 --concurrency 4 --time-limit "$LIMIT" --quiet > "$out.log" 2>&1 &
  done
done
wait
for mode in gated direct outcome; do
  for seed in $SEEDS; do
    out=$RUN/grpo-$mode-s$seed
    [ -d "$out/checkpoint-last" ] && nice -n 15 $PY "$HERE/evaluate.py" "$out/checkpoint-last" "$RUN/eval_grpo-$mode-s$seed.json" > "$out.eval.log" 2>&1 &
  done
done
wait
