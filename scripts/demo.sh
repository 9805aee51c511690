#!/usr/bin/env bash
# The main job on a fresh machine: set everything up, let agents play episodes of every family
# (the real SmolLM2-135M-Instruct model when it is available, plus the oracle and random
# baselines), write one replayable trajectory file per env, evaluate, and show a replay.
#   bash scripts/demo.sh            full setup + episodes
#   SKIP_SETUP=1 bash scripts/demo.sh   reuse an existing setup
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_SETUP:-0}" = "1" ] || bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
RUN=runs/demo
mkdir -p "$RUN"

echo "==> the G-RA effect on the toy: REINFORCE under direct (D-RA) vs gated (G-RA)"
agentgym train toy --reward direct --seeds 1
agentgym train toy --reward gated --seeds 1

play() {  # env policy episodes [extra args...]
  local env=$1 policy=$2 n=$3; shift 3
  local name; name=$(echo "$env" | sed 's#agentgym/##; s#-v0##')
  echo "==> $env with policy $policy"
  agentgym eval "$env" --policy "$policy" --n "$n" --out "$RUN/$name.jsonl" "$@" || echo "   ($env: failed, see above)"
}

play agentgym/StallOrSubmit-v0 oracle 3
play agentgym/StallOrSubmit-v0 random 3

echo
echo "Replay any record, e.g.:  agentgym replay $RUN/StallOrSubmit.jsonl --episode 0"
agentgym replay "$RUN/StallOrSubmit.jsonl" --episode 0 --limit 400
