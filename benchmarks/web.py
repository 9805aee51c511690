"""Reset and step latency of agentgym/Web-v0 on MiniWoB++ beside BrowserGym's MiniWoB env.

    python benchmarks/web.py --quick            # 3 tasks x 3 episodes x 3 steps each
    python benchmarks/web.py --episodes 10
    python benchmarks/web.py --bg-python /work/bgvenv/bin/python

Both envs run the same MiniWoB++ HTML files (the PyPI `miniwob` package's), the same tasks and
seeds, the same action sequence per episode (fill the task's text input, scroll down, fill
again; none of them ends the episode), on Debian's /usr/bin/chromium. BrowserGym
(`browsergym-miniwob`) lives in its own venv (default /work/bgvenv; create it with
`python -m venv /work/bgvenv && /work/bgvenv/bin/pip install browsergym-miniwob`) so its pinned
dependencies cannot disturb ours; it is driven through a subprocess that prints JSON timings.
BrowserGym's launcher has no executable-path setting for its second (chat) browser, so the
probe defaults Playwright's `BrowserType.launch(executable_path=...)` to /usr/bin/chromium.

Printed: medians and p90 per env, and the ratios BrowserGym / agentgym (goal: reset >= 5x,
step >= 3x). The first reset of each env (browser launch) is reported apart. No pass/fail exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = ["enter-text", "login-user", "enter-password", "enter-text-2", "enter-text-dynamic"]
INPUT_JS = "() => { const i = document.querySelector('#area input'); return i ? i.getAttribute('%s') : null; }"

BG_PROBE = r'''
import json, sys, time
import gymnasium as gym
from playwright.sync_api._generated import BrowserType

CHROMIUM = sys.argv[1]
tasks = json.loads(sys.argv[2]); episodes = int(sys.argv[3])
_launch = BrowserType.launch
def launch(self, *args, **kwargs):
    kwargs.setdefault("executable_path", CHROMIUM)
    return _launch(self, *args, **kwargs)
BrowserType.launch = launch

import browsergym.miniwob  # noqa: E402  (registers browsergym/miniwob.*)

out = {"first_reset": None, "reset": [], "step": [], "errors": []}
for task in tasks:
    env = gym.make(f"browsergym/miniwob.{task}")
    for episode in range(episodes + (1 if out["first_reset"] is None else 0)):
        t = time.perf_counter(); env.reset(seed=episode); dt = time.perf_counter() - t
        if out["first_reset"] is None:
            out["first_reset"] = dt
            continue
        out["reset"].append(dt)
        bid = env.unwrapped.page.evaluate("() => { const i = document.querySelector('#area input'); return i ? i.getAttribute('bid') : null; }")
        for action in (f'fill("{bid}", "hello")', "scroll(0, 200)", f'fill("{bid}", "abc")'):
            t = time.perf_counter(); obs, r, term, trunc, info = env.step(action); out["step"].append(time.perf_counter() - t)
            if obs.get("last_action_error"):
                out["errors"].append(obs["last_action_error"][:200])
    env.close()
print("BGJSON" + json.dumps(out))
'''


def run_agentgym(tasks: list[str], episodes: int) -> dict:
    import agentgym  # noqa: F401
    from agentgym.envs.web.env import WebEnv

    out: dict = {"first_reset": None, "reset": [], "step": [], "errors": []}
    env = WebEnv(suite="miniwob")
    try:
        t = time.perf_counter()
        env.reset(seed=0, options={"task_id": tasks[0]})
        out["first_reset"] = time.perf_counter() - t
        for task in tasks:
            for episode in range(episodes):
                t = time.perf_counter()
                env.reset(seed=episode, options={"task_id": task})
                out["reset"].append(time.perf_counter() - t)
                element = env.run_in_browser(lambda: env.page.evaluate(INPUT_JS % "data-agentgym-id"))  # ids are given at reset
                for action in (f'fill("{element}", "hello")', 'scroll("down")', f'fill("{element}", "abc")'):
                    t = time.perf_counter()
                    _, _, _, _, info = env.step(action)
                    out["step"].append(time.perf_counter() - t)
                    if not all(r["ok"] for r in info["tool_results"]):
                        out["errors"].append(info["tool_results"][0]["content"][:200])
    finally:
        env.close()
    return out


def run_browsergym(python: str, tasks: list[str], episodes: int, chromium: str) -> dict | str:
    import miniwob

    if not Path(python).exists():
        return f"BrowserGym venv not found at {python} (python -m venv /work/bgvenv && " \
               "/work/bgvenv/bin/pip install browsergym-miniwob)"
    html = Path(miniwob.__file__).parent / "html" / "miniwob"
    env = dict(os.environ, MINIWOB_URL=html.as_uri() + "/")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(BG_PROBE)
        probe = handle.name
    try:
        proc = subprocess.run([python, probe, chromium, json.dumps(tasks), str(episodes)], env=env,
                              capture_output=True, text=True, timeout=1800)
    finally:
        os.unlink(probe)
    for line in proc.stdout.splitlines():
        if line.startswith("BGJSON"):
            return json.loads(line[6:])
    return f"BrowserGym probe failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}"


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 tasks x 3 episodes")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--bg-python", default=os.environ.get("BROWSERGYM_PYTHON", "/work/bgvenv/bin/python"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--no-browsergym", action="store_true")
    args = parser.parse_args()
    tasks = args.tasks or (TASKS[:3] if args.quick else TASKS)
    episodes = 3 if args.quick else args.episodes

    print(f"tasks: {', '.join(tasks)}; {episodes} episode(s) each, 3 steps per episode; chromium {args.chromium}")
    ours = run_agentgym(tasks, episodes)
    theirs = None if args.no_browsergym else run_browsergym(args.bg_python, tasks, episodes, args.chromium)

    rows = [("agentgym Web-v0", ours)]
    if isinstance(theirs, dict):
        rows.append(("BrowserGym miniwob", theirs))
    print(f"{'env':<20} {'first reset':>12} {'reset p50':>10} {'reset p90':>10} {'step p50':>9} {'step p90':>9} errors")
    for name, data in rows:
        r50, r90 = summary(data["reset"])
        s50, s90 = summary(data["step"])
        print(f"{name:<20} {data['first_reset']:>11.3f}s {r50:>9.3f}s {r90:>9.3f}s {s50:>8.3f}s {s90:>8.3f}s "
              f"{len(data['errors'])}")
    if isinstance(theirs, dict):
        reset_ratio = summary(theirs["reset"])[0] / summary(ours["reset"])[0]
        step_ratio = summary(theirs["step"])[0] / summary(ours["step"])[0]
        print(f"ratio BrowserGym/agentgym (median): reset {reset_ratio:.1f}x (goal >= 5x: "
              f"{'met' if reset_ratio >= 5 else 'NOT met'}), step {step_ratio:.1f}x (goal >= 3x: "
              f"{'met' if step_ratio >= 3 else 'NOT met'})")
    elif theirs is not None:
        print(f"BrowserGym: {theirs}")
    for name, data in rows:
        if data["errors"]:
            print(f"{name} action errors: {data['errors'][:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
