"""Tool-env step overhead: agentgym ToolUse-v0 vs SkyRL-Gym's and GEM's tool environments.

    python benchmarks/tool.py --quick

Measures, in one run on this machine:
- agentgym: `env.step(action)` on a retail world task (parse the <tool_call> text, validate the
  arguments with pydantic, dispatch the SQLite tool in a savepoint, score the ToolRL/checklist
  components, reward tracker step), for a text action and an OpenAI message action; plus the
  parse-only and validate-only parts;
- SkyRL-Gym (PyPI skyrl-gym) text2sql `SQLEnv.step` on a small SQLite database (`<sql>` action);
- GEM (PyPI gem-llm) `ToolEnvWrapper(PythonCodeTool)` step (`<python>` action; a process per call).
The peers run in their own virtual environment (`--peer-python`, default /work/peervenv/bin/python)
through a subprocess that prints JSON; if it is missing the script says why and reports ours only.
Prints medians and ratios peer/ours (goal: our median <= 0.3 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

PEER_SCRIPT = textwrap.dedent(r'''
    import json, os, sqlite3, statistics, sys, tempfile, time
    n = int(sys.argv[1]); out = {}
    def med(xs): return statistics.median(xs) * 1000
    try:
        from skyrl_gym.envs.sql.env import SQLEnv, Text2SQLEnvConfig
        root = tempfile.mkdtemp()
        db_dir = os.path.join(root, "spider", "database", "shop"); os.makedirs(db_dir)
        conn = sqlite3.connect(os.path.join(db_dir, "shop.sqlite"))
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, user TEXT, status TEXT, total REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [(i, f"u{i % 20}", "pending" if i % 3 else "delivered", i * 1.5) for i in range(200)])
        conn.commit(); conn.close()
        extras = {"db_id": "shop", "reward_spec": {"ground_truth": "SELECT status FROM orders WHERE id = 7"}, "data": "spider", "max_turns": 10**9}
        env = SQLEnv(Text2SQLEnvConfig(db_path=root), extras)
        env.init([{"role": "user", "content": "What is the status of order 7?"}])
        action = "<sql>SELECT status, total FROM orders WHERE id = 7</sql>"
        times = []
        for i in range(n):
            t = time.perf_counter(); env.step(action); times.append(time.perf_counter() - t)
        out["skyrl_text2sql_ms"] = med(times)
    except Exception as e:
        out["skyrl_error"] = f"{type(e).__name__}: {e}"
    try:
        from gem.core import Env
        from gem.tools.python_code_tool import PythonCodeTool
        from gem.tools.tool_env_wrapper import ToolEnvWrapper
        class Question(Env):
            def reset(self, seed=None):
                return "What is 6*7?", {}
            def step(self, action):
                return "", float("42" in action), True, False, {}
        env = ToolEnvWrapper(Question(), tools=[PythonCodeTool(timeout=5)], max_tool_uses=None)
        env.reset()
        action = "<python>print(6*7)</python>"
        times = []
        for i in range(max(5, n // 20)):
            t = time.perf_counter(); env.step(action); times.append(time.perf_counter() - t)
        out["gem_python_tool_ms"] = med(times)
    except Exception as e:
        out["gem_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))
''')


def measure_ours(n: int) -> dict[str, float]:
    import gymnasium as gym

    import agentgym  # noqa: F401
    from agentgym.parsing import parse_action

    env = gym.make("agentgym/ToolUse-v0", world="retail", max_turns=10**9).unwrapped
    env.reset(options={"task_id": "retail-status-004"})
    gold = env.task.gold_actions
    order = gold[-1]["arguments"]["order_id"]
    actions = [
        f'<tool_call>{json.dumps({"name": "get_order_details", "arguments": {"order_id": order}})}</tool_call>',
        f'<tool_call>{json.dumps({"name": gold[0]["name"], "arguments": gold[0]["arguments"]})}</tool_call>',
    ]
    message = {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "get_order_details", "arguments": json.dumps({"order_id": order})}}]}
    for a in actions * 50:  # warm up
        env.step(a)
    text_times, message_times, parse_times, validate_times = [], [], [], []
    tool = env.toolset["get_order_details"]
    for i in range(n):
        action = actions[i % 2]
        t = time.perf_counter()
        env.step(action)
        text_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        env.step(message)
        message_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        parse_action(action)
        parse_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        tool.validate({"order_id": order})
        validate_times.append(time.perf_counter() - t)
    env.close()

    def med(xs: list[float]) -> float:
        return statistics.median(xs) * 1000

    return {
        "ours_step_text_ms": med(text_times),
        "ours_step_text_p90_ms": sorted(text_times)[int(0.9 * len(text_times))] * 1000,
        "ours_step_message_ms": med(message_times),
        "ours_parse_ms": med(parse_times),
        "ours_validate_ms": med(validate_times),
    }


def measure_peers(python: str, n: int) -> dict[str, object]:
    if not os.path.exists(python):
        return {"peer_error": f"{python} not found (python -m venv /work/peervenv && "
                              "/work/peervenv/bin/pip install skyrl-gym gem-llm)"}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(PEER_SCRIPT)
    try:
        proc = subprocess.run([python, handle.name, str(n)], capture_output=True, text=True, timeout=900)
    finally:
        os.unlink(handle.name)
    if proc.returncode != 0:
        return {"peer_error": proc.stderr[-1500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a few seconds)")
    parser.add_argument("--peer-python", default=os.environ.get("AGENTGYM_PEER_PYTHON", "/work/peervenv/bin/python"))
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()
    n = 500 if args.quick else 5000
    ours = measure_ours(n)
    peers = measure_peers(args.peer_python, 200 if args.quick else 2000)
    result: dict[str, object] = {**ours, **peers, "iterations": n}
    step = ours["ours_step_text_ms"]
    for key in ("skyrl_text2sql_ms", "gem_python_tool_ms"):
        if isinstance(peers.get(key), float):
            result[key.replace("_ms", "_over_ours")] = peers[key] / step  # type: ignore[operator]
    result["goal_met"] = step <= 0.3
    if args.json:
        print(json.dumps(result))
        return
    print(f"agentgym ToolUse-v0 step (text <tool_call>)  median {step:.3f} ms  p90 {ours['ours_step_text_p90_ms']:.3f} ms"
          f"  (goal <= 0.3 ms: {'met' if step <= 0.3 else 'NOT met'})")
    print(f"agentgym ToolUse-v0 step (OpenAI message)   median {ours['ours_step_message_ms']:.3f} ms")
    print(f"  of which parse {ours['ours_parse_ms'] * 1000:.1f} us, validate (pydantic) {ours['ours_validate_ms'] * 1000:.1f} us")
    for key, label in (("skyrl_text2sql_ms", "SkyRL-Gym text2sql SQLEnv.step"), ("gem_python_tool_ms", "GEM ToolEnvWrapper(PythonCodeTool).step")):
        if key in peers:
            print(f"{label:42s} median {peers[key]:.3f} ms  = {peers[key] / step:.1f}x ours")  # type: ignore[operator]
    for key in ("skyrl_error", "gem_error", "peer_error"):
        if key in peers:
            print(f"{key}: {peers[key]}")
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
