#!/usr/bin/env bash
# Tree-aware vs plain GRPO advantages on StallOrSubmit at equal episode budget (tabular, CPU, ~5-10 min).
# Usage: bash docs/experiments/tree_grpo/run.sh [OUT_DIR]; then python docs/experiments/tree_grpo/plot.py OUT_DIR
set -eu
OUT=${1:-docs/experiments/tree_grpo/raw}
for reward in gated outcome; do
  nice -n 15 python docs/experiments/tree_grpo/run.py "$OUT/$reward" 10 40 "$reward" episode 1.0
  nice -n 15 python docs/experiments/tree_grpo/run.py "$OUT/$reward-stepnorm" 10 40 "$reward" step 4.0
done
