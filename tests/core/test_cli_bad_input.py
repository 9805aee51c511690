"""Every bad input gets one clear `error:` line and exit 2; failed work exits 1; never a traceback.

Table-driven: each case is a command line, the exit code it must give and a piece of the one
error line (which must name what was wrong). The commands run in-process with typer's CliRunner
(the root command's own error handling runs there too); the console script and the demo script
run as real processes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agentgym.cli.main import app

TOY = "agentgym/StallOrSubmit-v0"
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEAD_URL = f"http://127.0.0.1:{_free_port()}"  # nothing listens there


def _level(i: int) -> dict:
    return {"name": f"l{i}", "scope": "step", "components": ["critic"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    toy_spec = yaml.safe_load((REPO / "envs/toy/reward.yaml").read_text())
    nan = json.loads(json.dumps(toy_spec))
    nan["levels"][0]["gate"]["threshold"] = float("nan")
    (d / "nan.yaml").write_text(yaml.safe_dump(nan))
    judge_nan = json.loads(json.dumps(toy_spec))
    judge_nan["judges"] = {"j": {"kind": "pointwise", "model": "random", "pregate": {"fail_value": float("inf")}}}
    (d / "judge_nan.yaml").write_text(yaml.safe_dump(judge_nan))
    (d / "levels65.yaml").write_text(yaml.safe_dump({"name": "x", "levels": [_level(i) for i in range(65)]}))
    (d / "wide.yaml").write_text(yaml.safe_dump(
        {"name": "x", "levels": [{"name": "a", "scope": "step", "components": [f"c{i}" for i in range(257)]}]}))
    (d / "big.yaml").write_text("# padding\n" * 120_000)  # 1.2 MB
    (d / "plain.txt").write_text("a regular file\n")
    (d / "outdir").mkdir()
    (d / "run.jsonl").write_text("")
    return d


def _cases():
    """(id, args, exit code, text the error line must contain). `{d}`: the files fixture folder."""
    return [
        # counts must be positive
        ("episodes-negative", ["run", TOY, "-n", "-3"], 2, "'--episodes' / '-n'"),
        ("eval-n-negative", ["eval", TOY, "--n", "-1"], 2, "'--n' / '-n'"),
        ("episodes-zero", ["run", TOY, "-n", "0"], 2, "'--episodes' / '-n'"),
        ("concurrency-zero", ["run", TOY, "-c", "0"], 2, "'--concurrency' / '-c'"),
        ("group-size-zero", ["run", TOY, "-G", "0"], 2, "--group-size"),
        ("max-turns-zero", ["run", TOY, "--max-turns", "0"], 2, "--max-turns"),
        ("max-turns-not-int", ["run", TOY, "--max-turns", "x"], 2, "--max-turns"),
        ("seed-negative", ["run", TOY, "--seed", "-1"], 2, "--seed"),
        ("check-episodes-zero", ["check", TOY, "-n", "0"], 2, "--episodes"),
        ("executor-unknown", ["run", TOY, "--executor", "slurm"], 2, "--executor must be local, process or ray"),
        # env arguments: parameters of the env (along the MRO), typed, with a did-you-mean
        ("env-arg-unknown", ["run", TOY, "-e", "frob=1"], 2, "has no parameter 'frob'"),
        ("env-arg-typo", ["run", TOY, "-e", "max_turn=3"], 2, "did you mean 'max_turns'?"),
        ("env-arg-base-class-param-ok-but-bad-value", ["run", TOY, "-e", "max_turns=abc"], 2,
         "-e max_turns=abc: expected an integer"),
        ("env-arg-max-turns-zero", ["run", TOY, "-e", "max_turns=0"], 2, "max_turns must be a positive integer"),
        ("env-arg-float", ["run", TOY, "-e", "pass_prob=high"], 2, "-e pass_prob=high: expected a number"),
        ("env-arg-rejected-by-env", ["run", TOY, "-e", "emission=dens"], 2, "emission must be 'terminal' or 'dense'"),
        ("env-arg-no-equals", ["run", TOY, "-e", "frob"], 2, "--env-arg expects key=value"),
        ("env-arg-twice", ["run", TOY, "-e", "pass_prob=1", "-e", "pass_prob=0"], 2, "given twice"),
        ("env-arg-set-by-the-family", ["run", TOY, "-e", "tasks=3"], 2, "sets 'tasks' itself"),
        ("env-arg-family-param", ["run", "agentgym/BFCL-v0", "-e", "categroy=simple"], 2, "did you mean 'category'?"),
        # ids must exist and be agentgym envs / tasks
        ("env-id-unknown", ["run", "agentgym/StallOrSubmt-v0"], 2, "Did you mean: agentgym/StallOrSubmit-v0"),
        ("env-id-not-agentgym", ["run", "CartPole-v1"], 2, "CartPole-v1 is not an agentgym env"),
        ("env-id-bad-module", ["run", "no_such_module_x:my/Env-v0"], 2, "cannot import module 'no_such_module_x'"),
        ("task-unknown", ["run", TOY, "-t", "nope"], 2, "unknown task id 'nope'"),
        ("task-one-of-many-unknown", ["run", TOY, "-t", "toy-1", "-t", "toy-x"], 2, "unknown task id 'toy-x'"),
        ("check-env-arg-unknown", ["check", TOY, "-e", "frob=1"], 2, "has no parameter 'frob'"),
        # policies: kind, URL, options named, server reachable before any episode
        ("policy-unknown", ["run", TOY, "-p", "telepathy"], 2, "unknown policy kind 'telepathy'"),
        ("policy-not-a-url", ["run", TOY, "-p", "openai:notaurl#m"], 2, "'notaurl' is not an http(s) URL"),
        ("policy-no-model", ["run", TOY, "-p", "vllm:http://127.0.0.1:1"], 2, "needs URL#MODEL"),
        ("policy-unreachable", ["run", TOY, "-p", f"openai:{DEAD_URL}#m"], 2, "cannot reach the policy server"),
        ("policy-option-value", ["run", TOY, "-p", f"vllm:{DEAD_URL}#m?temperature=abc"], 2,
         "policy option temperature='abc': expected a number"),
        ("policy-option-typo", ["run", TOY, "-p", f"vllm:{DEAD_URL}#m?temprature=1"], 2,
         "did you mean 'temperature'?"),
        ("policy-option-choice", ["run", TOY, "-p", f"openai:{DEAD_URL}#m?tools_mode=natve"], 2,
         "did you mean 'native'?"),
        ("policy-option-range", ["run", TOY, "-p", f"openai:{DEAD_URL}#m?top_p=2"], 2, "top_p='2': must be in (0, 1]"),
        ("policy-random-seed", ["run", TOY, "-p", "random:abc"], 2, "random:SEED needs an integer seed"),
        ("policy-hf-missing-path", ["run", TOY, "-p", "hf:./no/such/model"], 2, "model path not found"),
        # reward specs: fields named, finite numbers, sizes bounded
        ("spec-unknown-mode", ["run", TOY, "--reward", "nope"], 2, "reward: unknown value 'nope'"),
        ("spec-missing-file", ["run", TOY, "--reward", "{d}/missing.yaml"], 2, "reward spec file not found"),
        ("spec-nan-threshold", ["run", TOY, "--reward", "{d}/nan.yaml"], 2, "levels.0.gate.threshold: must be a finite"),
        ("spec-judge-inf", ["run", TOY, "--reward", "{d}/judge_nan.yaml"], 2,
         "judges: j.pregate.fail_value: must be a finite number"),
        ("spec-too-many-levels", ["run", TOY, "--reward", "{d}/levels65.yaml"], 2, "levels: at most 64 levels, got 65"),
        ("spec-too-many-components", ["run", TOY, "--reward", "{d}/wide.yaml"], 2,
         "levels.0.components: at most 256 components"),
        ("spec-too-big", ["run", TOY, "--reward", "{d}/big.yaml"], 2, "a spec file may be at most 1 MB"),
        ("spec-is-a-directory", ["run", TOY, "--reward", "{d}/outdir"], 2, "is a directory"),
        # paths are checked before any work
        ("out-is-a-directory", ["run", TOY, "-o", "{d}/outdir"], 2, "--out {d}/outdir: is a directory"),
        ("out-under-a-file", ["run", TOY, "-o", "{d}/plain.txt/run.jsonl"], 2, "plain.txt is not a directory"),
        ("eval-json-is-a-directory", ["eval", TOY, "--json", "{d}/outdir"], 2, "--json {d}/outdir: is a directory"),
        ("eval-json-same-as-out", ["eval", TOY, "-o", "{d}/x.jsonl", "--json", "{d}/x.jsonl"], 2, "the same file"),
        ("replay-missing", ["replay", "{d}/missing.jsonl"], 2, "not found"),
        ("replay-episode-negative", ["replay", "{d}/run.jsonl", "--episode", "-1"], 2, "--episode"),
        ("replay-json-without-reexec", ["replay", "{d}/run.jsonl", "--json", "{d}/r.json"], 2, "add --reexec"),
        ("rescore-json-directory", ["rescore", "{d}/run.jsonl", "--json", "{d}/outdir"], 2, "is a directory"),
        ("report-missing", ["report", "{d}/missing.jsonl"], 2, "not found"),
        ("report-html-unwritable", ["report", "{d}/run.jsonl", "--html", "{d}/plain.txt/r.html"], 2,
         "plain.txt is not a directory"),
        ("report-html-directory", ["report", "{d}/run.jsonl", "--html", "{d}/outdir"], 2, "is a directory"),
        ("report-empty-file", ["report", "{d}/run.jsonl", "--html", "{d}/r.html"], 2, "no readable episode"),
        # MCP: a missing binary is bad input; a server that does not start is failed work, with its cause
        ("mcp-missing-binary", ["mcp", "tools", "no-such-mcp-server-xyz"], 2, "server command not found"),
        ("mcp-unbalanced-quote", ["mcp", "tools", "'oops"], 2, "No closing quotation"),
        ("mcp-server-exits", ["mcp", "tools", f"{sys.executable} -c \"import sys; sys.stderr.write('bad config: "
                                              "no token\\n'); sys.exit(3)\""], 1,
         "exited with code 3 before the MCP handshake completed; its stderr ends: bad config: no token"),
        ("mcp-call-args-not-object", ["mcp", "call", "true", "tool", "[1, 2]"], 2, "must be a JSON object"),
        ("mcp-call-args-not-json", ["mcp", "call", "true", "tool", "{nope"], 2, "arguments are not JSON"),
        # family commands
        ("swe-build-missing-sdist", ["tasks", "swe", "build", "-p", "./missing.tar.gz", "-o", "{d}/swe.jsonl"], 2,
         "--package ./missing.tar.gz: local sdist not found"),
        ("swe-build-bad-requirement", ["tasks", "swe", "build", "-p", "not a package", "-o", "{d}/swe.jsonl"], 2,
         "expected NAME==VERSION"),
        ("swe-validate-missing", ["tasks", "swe", "validate", "{d}/missing.jsonl"], 2, "not found"),
        ("swe-validate-jobs-zero", ["tasks", "swe", "validate", "-j", "0"], 2, "--jobs"),
        ("toy-train-seeds-zero", ["train", "toy", "--seeds", "0"], 2, "--seeds"),
        ("toy-train-bad-reward", ["train", "toy", "--reward", "gatd"], 2, "--reward must be gated, direct or outcome"),
        ("search-build-docs-zero", ["tasks", "search", "build", "-o", "{d}/s", "--docs", "0"], 2, "--docs"),
        ("search-validate-missing", ["tasks", "search", "validate", "--corpus", "{d}/c.jsonl", "--questions",
                                     "{d}/q.jsonl"], 2, "--corpus {d}/c.jsonl: not found"),
        ("web-export-bad-suite", ["tasks", "web", "export", "miniwob", "-o", "{d}/w.jsonl"], 2,
         "export writes the generated app suites"),
        ("web-check-oracles-bad-suite", ["tasks", "web", "check-oracles", "shp"], 2, "SUITE must be"),
        ("models-fetch-unknown", ["models", "fetch", "gpt-99"], 2, "unknown model 'gpt-99'"),
        ("serve-unknown-model", ["serve", "gpt-99"], 2, "neither a checkpoint directory nor a known model"),
        ("serve-port-range", ["serve", "smollm2", "--port", "70000"], 2, "--port"),
        # usage errors are one line too
        ("unknown-command", ["frobnicate"], 2, "No such command 'frobnicate'"),
        ("unknown-option", ["run", TOY, "--polcy", "x"], 2, "No such option: --polcy"),
        ("missing-argument", ["run"], 2, "Missing argument"),
    ]


CASES = _cases()


@pytest.mark.parametrize("case_id, args, code, text", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(files, case_id, args, code, text):
    args = [a.replace("{d}", str(files)) for a in args]
    text = text.replace("{d}", str(files))
    started = time.perf_counter()
    result = runner.invoke(app, args)
    output = result.output
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert text in errors[0], errors[0]
    assert time.perf_counter() - started < 60


def test_swe_build_that_fails_writes_no_output_file(files):
    out = files / "swe_none.jsonl"
    result = runner.invoke(app, ["tasks", "swe", "build", "-p", "./missing.tar.gz", "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()


def test_huge_spec_is_refused_at_once(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "levels": [_level(i) for i in range(130_000)]}))
    assert spec.stat().st_size > 5_000_000
    started = time.perf_counter()
    result = runner.invoke(app, ["run", TOY, "--reward", str(spec)])
    assert result.exit_code == 2 and "at most 1 MB" in result.output
    assert time.perf_counter() - started < 5
    # the same levels in memory (no file): the level limit, not a quadratic check, answers
    from agentgym.rewards import SpecError
    from agentgym.rewards.spec import spec_from_data

    started = time.perf_counter()
    with pytest.raises(SpecError, match="levels: at most 64 levels, got 130000"):
        spec_from_data({"levels": [_level(i) for i in range(130_000)]})
    assert time.perf_counter() - started < 5


def test_nothing_runs_before_the_arguments_are_checked(files, monkeypatch):
    """A bad argument found late (the task id) still fails before any episode is played and
    before the output file is created."""
    import agentgym.rollout as rollout

    played = []
    monkeypatch.setattr(rollout, "arun_episode", lambda *a, **k: played.append(a))
    out = files / "never.jsonl"
    result = runner.invoke(app, ["run", TOY, "-t", "nope", "-o", str(out)])
    assert result.exit_code == 2 and not played
    assert not out.exists() and not Path(f"{out}.lock").exists()


class _CrashingPolicy:
    name = "crashing"

    def describe(self):
        return {"name": "crashing"}

    def act(self, messages, tools):
        raise ConnectionError("the model server went away")


def test_a_run_whose_every_episode_is_invalid_exits_1_and_says_why(monkeypatch, tmp_path):
    import agentgym.cli.main as main

    monkeypatch.setattr(main, "make_policy", lambda spec: _CrashingPolicy())
    out = tmp_path / "run.jsonl"
    result = runner.invoke(app, ["run", TOY, "-n", "3", "-o", str(out)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "all 3 episode(s) were invalid" in errors[0] and "the model server went away" in errors[0]
    assert len(out.read_text().splitlines()) == 3  # recorded all the same (replayable)
    result = runner.invoke(app, ["eval", TOY, "--n", "2"])
    assert result.exit_code == 1 and "all 2 episode(s) were invalid" in result.output


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch):
    import agentgym.metrics as metrics

    def broken(records):
        raise RuntimeError("summary exploded")

    monkeypatch.setattr(metrics, "summarize", broken)
    result = runner.invoke(app, ["run", TOY])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: RuntimeError: summary exploded (run with --debug for the traceback)" in result.output
    debug = runner.invoke(app, ["run", TOY, "--debug"])
    assert isinstance(debug.exception, RuntimeError)  # re-raised: the console script prints its traceback
    again = runner.invoke(app, ["run", TOY])  # --debug does not stick to later invocations
    assert again.exit_code == 1 and "run with --debug" in again.output


def test_failed_work_exits_1(monkeypatch):
    from agentgym.rollout import PreparedRun

    def broken(self, policy, on_episode=None):
        self.close()
        raise OSError("No space left on device")

    monkeypatch.setattr(PreparedRun, "execute", broken)
    result = runner.invoke(app, ["run", TOY])
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        "error: No space left on device"
    ]


def test_resumed_run_says_so_and_plays_nothing_twice(tmp_path):
    out = tmp_path / "run.jsonl"
    assert runner.invoke(app, ["run", TOY, "-n", "2", "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["run", TOY, "-n", "3", "-o", str(out)])
    assert again.exit_code == 0
    assert "resuming: 2 of 3 episode(s) already in" in again.output and "playing 1" in again.output
    assert len(out.read_text().splitlines()) == 3
    done = runner.invoke(app, ["run", TOY, "-n", "3", "-o", str(out)])
    assert done.exit_code == 0 and "nothing left to play" in done.output


def test_console_script_bad_input_is_one_line():
    """The installed entry point, as a real process: one line on stderr, exit 2, fast."""
    agentgym = shutil.which("agentgym") or str(Path(sys.executable).with_name("agentgym"))
    for args, text in (
        (["run", TOY, "-e", "frob=1"], "has no parameter 'frob'"),
        (["run", TOY, "-n", "-3"], "--episodes"),
        (["eval", "CartPole-v1"], "is not an agentgym env"),
    ):
        proc = subprocess.run([agentgym, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout


# ---------------------------------------------------------------------- scripts/demo.sh
def _fake_checkout(tmp_path: Path, failing: set[str]) -> Path:
    """A copy of scripts/demo.sh whose `.venv/bin/activate` puts a stub `agentgym` first on PATH:
    the stub fails `eval` for the env ids in `failing`, serves /health for `serve`, passes the rest."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "demo.sh", root / "scripts" / "demo.sh")
    stub = root / "stub"
    stub.mkdir()
    (stub / "agentgym").write_text(textwrap.dedent(f"""\
        #!/usr/bin/env bash
        echo "agentgym $*" >> "{root}/calls.log"
        case "$1" in
          serve)
            port=$(echo "$@" | sed -E 's/.*--port ([0-9]+).*/\\1/')
            mkdir -p "{root}/www" && echo ok > "{root}/www/health"
            exec "{sys.executable}" -m http.server "$port" --bind 127.0.0.1 --directory "{root}/www" ;;
          eval)
            for bad in {" ".join(sorted(failing))}; do
              if [ "$2" = "$bad" ]; then echo "error: $2 is broken" >&2; exit 1; fi
            done ;;
        esac
        exit 0
        """))
    (stub / "agentgym").chmod(0o755)
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "activate").write_text(f'export PATH="{stub}:{Path(sys.executable).parent}:$PATH"\n')
    return root


def _run_demo(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SKIP_SETUP": "1", "PORT": str(_free_port()), "RUN": str(root / "runs")}
    return subprocess.run(["bash", str(root / "scripts" / "demo.sh")], capture_output=True, text=True,
                          timeout=180, env=env, cwd=root)


def test_demo_script_fails_at_the_end_naming_each_failed_family(tmp_path):
    root = _fake_checkout(tmp_path, {"agentgym/BFCL-v0", "agentgym/Web-v0"})
    proc = _run_demo(root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    calls = (root / "calls.log").read_text()
    assert calls.count("agentgym eval") == 12  # every family still ran, under both policies
    assert "demo FAILED: 4 family run(s) failed" in proc.stderr
    for name in ("bfcl (agentgym/BFCL-v0, oracle: exit 1)", "web (agentgym/Web-v0, smollm2: exit 1)"):
        assert name in proc.stderr
    assert "agentgym replay" not in calls  # the closing replay is not reached


def test_demo_script_passes_when_every_family_passes(tmp_path):
    root = _fake_checkout(tmp_path, set())
    proc = _run_demo(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agentgym replay" in (root / "calls.log").read_text()
