#!/usr/bin/env bash
# The main job on a fresh machine: set everything up, then let agents play episodes of every
# family — the real SmolLM2-135M-Instruct served by vLLM (CPU build), and the oracle baseline —
# writing one replayable trajectory file per env, evaluating them, and showing a replay.
#   bash scripts/demo.sh                 full setup + episodes (~15 min on 2 idle cores after setup)
#   SKIP_SETUP=1 bash scripts/demo.sh    reuse an existing setup
# A family whose run fails does not stop the others; the script then exits 1 listing every failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_SETUP:-0}" = "1" ] || bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
RUN=${RUN:-runs/demo}
PORT=${PORT:-8011}
mkdir -p "$RUN"

echo "==> the G-RA effect on the toy: REINFORCE under direct (D-RA) stalls, under gated (G-RA) submits"
agentgym train toy --reward direct --seeds 1
agentgym train toy --reward gated --seeds 1

echo "==> serving SmolLM2-135M-Instruct with vLLM on 127.0.0.1:$PORT"
agentgym serve smollm2 --port "$PORT" > "$RUN/vllm.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
python - "$PORT" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/health"
deadline = time.time() + 900
while time.time() < deadline:
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            print("vLLM server is up"); break
    except OSError:
        time.sleep(2)
else:
    sys.exit("vLLM server did not come up; see the log in the run folder")
PY
MODEL="vllm:http://127.0.0.1:$PORT#smollm2?temperature=0.7&max_tokens=192"

FAILED=()
play() {  # env short-name policy episodes [extra args...]
  local env=$1 name=$2 policy=$3 n=$4; shift 4
  local tag=oracle; [ "$policy" = oracle ] || tag=smollm2
  echo
  echo "==> $env  policy=${policy%%\?*}"
  local code=0
  agentgym eval "$env" --policy "$policy" --n "$n" --out "$RUN/$name-$tag.jsonl" "$@" || code=$?
  if [ "$code" -ne 0 ]; then
    echo "   FAILED: $name ($env, policy $tag) exited $code; see above" >&2
    FAILED+=("$name ($env, $tag: exit $code)")
  fi
}

for policy in oracle "$MODEL"; do
  play agentgym/StallOrSubmit-v0 toy "$policy" 2
  play agentgym/ToolUse-v0 tooluse "$policy" 2 --max-turns 8
  play agentgym/BFCL-v0 bfcl "$policy" 2 -e category=simple
  play agentgym/SearchQA-v0 search "$policy" 2 --max-turns 6
  play agentgym/Web-v0 web "$policy" 2 -e suite=shop --max-turns 12
  play agentgym/SWE-v0 swe "$policy" 1 --max-turns 6
done

if [ "${#FAILED[@]}" -gt 0 ]; then
  echo >&2
  echo "demo FAILED: ${#FAILED[@]} family run(s) failed:" >&2
  printf '  - %s\n' "${FAILED[@]}" >&2
  exit 1
fi

echo
echo "Trajectories are in $RUN/. Next:"
echo "  agentgym replay $RUN/tooluse-smollm2.jsonl          # browse turn by turn (q quits)"
echo "  agentgym replay $RUN/search-oracle.jsonl --reexec     # re-run the recorded actions, check determinism"
echo "  agentgym rescore $RUN/toy-smollm2.jsonl -r direct     # the same episodes under D-RA"
echo "  agentgym report $RUN --html $RUN/report.html          # HTML report with plots"
agentgym replay "$RUN/tooluse-smollm2.jsonl" --plain --episode 0 --limit 300
