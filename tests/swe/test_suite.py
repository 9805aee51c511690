"""The multi-package SWE suite: harder bug kinds, per-test coverage, difficulty and filters, the
parallel resumable build, the sdist cache (fetch, tamper refusal), bring-your-own prebuilt-image
records, statement rewrites, and a random sample of shipped tasks validated by the real grader."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from agentgym.tasks.swe.mutate import Bug, apply_mutation, find_mutations, pair_bugs

SAMPLE = textwrap.dedent(
    '''
    class Counter:
        def __init__(self):
            self.total = 0
            self.items = []

        def add(self, x):
            """Add x."""
            if x is None:
                return self
            self.total += x
            self.items.append(x)
            return self

        def sign(self, x):
            if x > 0:
                return 1
            else:
                return -1
    '''
)


def _pypi_reason() -> str | None:
    try:
        urllib.request.urlopen("https://pypi.org/pypi/toolz/json", timeout=10).close()
    except Exception as exc:  # noqa: BLE001
        return f"needs PyPI, which cannot be reached from here: {exc}"
    return None


def test_new_bug_kinds_remove_state_updates_and_else_branches():
    ms = list(find_mutations("counter.py", SAMPLE))
    removed = {m.original.strip() for m in ms if m.operator == "remove_statement"}
    # state updates are removable; plain `name = ...` bindings and the docstring never are
    assert removed == {"self.total = 0", "self.items = []", "self.total += x", "self.items.append(x)"}
    (drop_else,) = [m for m in ms if m.operator == "drop_else"]
    mutated = apply_mutation(SAMPLE, drop_else)
    assert "return -1" not in mutated and "return 1" in mutated
    compile(mutated, "counter.py", "exec")


def test_two_site_bugs_change_both_places_of_one_function():
    ms = list(find_mutations("counter.py", SAMPLE))
    bugs = pair_bugs(ms, limit=5, sources={"counter.py": SAMPLE})
    assert bugs
    for bug in bugs:
        a, b = bug.mutations
        assert a.function == b.function and (a.line > b.end_line or b.line > a.end_line or a.line < b.line)
        text = bug.apply({"counter.py": SAMPLE})["counter.py"]
        compile(text, "counter.py", "exec")
        assert text != apply_mutation(SAMPLE, a) and text != apply_mutation(SAMPLE, b)
        assert bug.kind == "multi_site" and bug.describe()["sites"][1]["line"] == b.line
    single = Bug((ms[0],))
    assert single.kind == ms[0].operator and single.lines[0] == ("counter.py", ms[0].line)


def test_coverage_plugin_maps_lines_to_the_tests_that_run_them(tmp_path):
    pkg = tmp_path / "calc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def add(a, b):\n    return a + b\n\n\ndef neg(a):\n    return -a\n")
    (tmp_path / "test_calc.py").write_text(
        "from calc import add, neg\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_neg():\n    assert neg(2) == -2\n"
    )
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    src = Path(__file__).parents[2] / "tasks" / "swe" / "coverage_plugin.py"
    (plugin_dir / "agentgym_line_coverage.py").write_text(src.read_text())
    (tmp_path / "sources.txt").write_text("calc/__init__.py\n")
    env = dict(
        os.environ,
        PYTHONPATH=f"{tmp_path}:{plugin_dir}",
        AGENTGYM_COV_ROOT=str(tmp_path),
        AGENTGYM_COV_SOURCES=str(tmp_path / "sources.txt"),
        AGENTGYM_COV_OUT=str(tmp_path / "cov.json"),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "agentgym_line_coverage",
            "test_calc.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cov = json.loads((tmp_path / "cov.json").read_text())
    tests = cov["tests"]
    lines = cov["lines"]["calc/__init__.py"]
    assert [tests[i] for i in lines["2"]] == ["test_calc.py::test_add"]
    assert [tests[i] for i in lines["6"]] == ["test_calc.py::test_neg"]
    assert -1 in lines["1"]  # the def line runs at import, outside any test


def test_difficulty_and_suite_filters():
    from agentgym.errors import TaskError
    from agentgym.tasks.swe.difficulty import estimate_difficulty
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.suite import filter_instances, parse_task_spec, split_of

    easy = estimate_difficulty(kind="swap_comparison", fail_to_pass=12)
    hard = estimate_difficulty(kind="multi_site", fail_to_pass=1, indirect=True)
    assert easy["level"] == "easy" and hard["level"] == "hard" and hard["score"] > easy["score"]
    instances = load_instances()  # the shipped 64 tasks (older records: difficulty computed)
    by_level = {lvl: filter_instances(instances, difficulty=lvl) for lvl in ("easy", "medium", "hard")}
    assert sum(len(v) for v in by_level.values()) == len(instances)
    toolz = filter_instances(instances, packages="toolz")
    assert toolz and all(i.repo == "pypi/toolz" for i in toolz)
    test = filter_instances(instances, split="test")
    assert test and all(split_of(i.instance_id) == "test" for i in test)
    assert parse_task_spec("suite?difficulty=hard&packages=a,b") == (
        "suite",
        {"difficulty": "hard", "packages": "a,b"},
    )
    with pytest.raises(TaskError, match="difficulty='impossible'"):
        filter_instances(instances, difficulty="impossible")
    with pytest.raises(TaskError, match="not in the suite"):
        filter_instances(instances, packages="numpy")
    with pytest.raises(TaskError, match="expected difficulty="):
        parse_task_spec("suite?level=hard")


def test_the_shipped_suite_spans_many_packages_and_filters_through_the_env_tasks():
    from agentgym.tasks.swe.source import swe_tasks
    from agentgym.tasks.swe.suite import load_suite

    suite = load_suite()
    packages = {i.repo for i in suite}
    assert len(packages) >= 45, sorted(packages)
    assert len({i.instance_id for i in suite}) == len(suite)
    for inst in suite:
        assert inst.sdist["sha256"] == inst.archive_sha256 and inst.sdist["filename"]
        assert inst.difficulty["level"] in ("easy", "medium", "hard")
        assert inst.FAIL_TO_PASS and not set(inst.FAIL_TO_PASS) & set(inst.PASS_TO_PASS)
    kinds = {i.mutation["kind"] for i in suite}
    assert {"multi_site", "remove_statement"} <= kinds
    hard_train = swe_tasks("suite?difficulty=hard&split=train")
    assert 0 < len(hard_train) < len(suite)
    assert all(t.metadata["difficulty"] == "hard" for t in hard_train)


def test_rewrite_is_stored_beside_the_template_and_refuses_a_leak():
    from agentgym.policy import PolicyOutput
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.rewrite import rewrite_all
    from agentgym.tasks.swe.source import task_from_instance

    inst = load_instances()[0]
    leak = next(ln for ln in inst.patch.splitlines() if ln.startswith("+") and not ln.startswith("+++"))[1:]

    class Writer:
        name = "writer"

        def __init__(self, text: str):
            self.text = text
            self.seen: list = []

        def describe(self):
            return {"name": self.name}

        def act(self, messages, tools):
            self.seen.append(messages)
            return PolicyOutput.from_text(self.text)

    issue = "When I call the function with a small list I get the wrong answer back. " * 2
    writer = Writer(issue)
    assert rewrite_all([inst], writer) == (1, 0)
    assert inst.problem_statement in writer.seen[0][0]["content"]
    assert inst.problem_statement_rewrite.strip() == issue.strip()
    assert issue.strip() in task_from_instance(inst, "rewrite").prompt
    assert inst.problem_statement in task_from_instance(inst).prompt  # the template stays the default
    inst.problem_statement_rewrite = ""
    assert rewrite_all([inst], Writer(issue + "\nThe fix: " + leak)) == (0, 1)
    assert inst.problem_statement_rewrite == ""


def test_byo_records_read_swe_smith_and_swebench_fields():
    from agentgym.tasks.swe.records import SWEInstance

    rec = {
        "instance_id": "x__y-1",
        "repo": "x/y",
        "base_commit": "a" * 40,
        "patch": "diff --git a/m.py b/m.py\n",
        "problem_statement": "it breaks",
        "FAIL_TO_PASS": json.dumps(["tests/test_m.py::test_a"]),
        "PASS_TO_PASS": "[]",
        "image_name": "example/prebuilt:1",
    }
    inst = SWEInstance.model_validate(rec)
    assert inst.image == "example/prebuilt:1" and inst.FAIL_TO_PASS == ["tests/test_m.py::test_a"]
    assert inst.archive_path() is None  # the prebuilt image holds the repository


@pytest.mark.docker
def test_byo_prebuilt_image_record_grades_unchanged(mini_tasks, tmp_path):
    """A SWE-smith-style record naming a prebuilt image (made here from a built task) loads and
    grades with the same clean-room grader: gold resolves, empty does not."""
    from typer.testing import CliRunner

    from agentgym.envs.swe.cli import tasks_app
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.validate import validate_instance

    path, instances, _ = mini_tasks
    out = tmp_path / "byo.jsonl"
    tag = "agentgym/test-byo:" + instances[0].instance_id[-8:]
    result = CliRunner().invoke(
        tasks_app,
        ["export-image", instances[0].instance_id, "--tag", tag, "--file", str(path), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["image_name"] == tag and isinstance(record["FAIL_TO_PASS"], str)
    assert "source_archive" not in record and "setup_patch" not in record
    (inst,) = load_instances(out)
    assert inst.image == tag and not inst.setup_patch
    try:
        v = validate_instance(inst)
        assert v.ok, (v.error, v.gold and v.gold.reason, v.empty and v.empty.reason)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.mark.docker
def test_sdist_cache_fetches_a_missing_archive_and_refuses_a_tampered_one(
    tmp_path, monkeypatch, docker_or_skip
):
    reason = _pypi_reason()
    if reason:
        pytest.skip(reason)
    from typer.testing import CliRunner

    from agentgym.envs.swe.cli import tasks_app
    from agentgym.tasks.swe.sdist_cache import SdistIntegrityError
    from agentgym.tasks.swe.suite import load_suite

    monkeypatch.setenv("AGENTGYM_SDIST_CACHE", str(tmp_path / "cache"))
    pkg = sorted({i.repo.split("/")[-1] for i in load_suite()})[0]
    inst = next(i for i in load_suite(packages=pkg))
    cached = tmp_path / "cache" / inst.sdist["filename"]
    assert not cached.exists()
    path = inst.archive_path()  # missing: fetched from PyPI and verified
    assert path == cached and path.is_file()
    result = CliRunner().invoke(tasks_app, ["fetch", "--suite", "--packages", pkg])
    assert result.exit_code == 0 and "1 of 1 sdists present and verified" in result.output, result.output
    with cached.open("ab") as handle:  # tamper with the cached archive
        handle.write(b"\0tampered")
    with pytest.raises(SdistIntegrityError, match="refusing to use it"):
        inst.archive_path()
    result = CliRunner().invoke(tasks_app, ["fetch", "--suite", "--packages", pkg])
    assert result.exit_code == 1 and "refusing to use it" in result.output
    assert cached.exists()  # a tampered file is refused, not silently replaced


@pytest.mark.docker
def test_build_a_package_outside_the_suite_in_parallel_and_resume(tmp_path, docker_or_skip):
    """`agentgym tasks swe build` on two packages outside the suite (a PyPI release and a local
    sdist) with 2 workers; a rerun of the same command resumes: nothing is rebuilt."""
    reason = _pypi_reason()
    if reason:
        pytest.skip(reason)
    from typer.testing import CliRunner

    from agentgym.envs.swe.cli import tasks_app
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.suite import load_suite

    outside = "isoweek==1.3.3"
    assert "pypi/isoweek" not in {i.repo for i in load_suite()}
    local = write_minicalc_sdist(tmp_path)
    out = tmp_path / "built"
    args = [
        "build",
        "-p",
        outside,
        "-p",
        str(local),
        "-o",
        str(out),
        "-j",
        "2",
        "--max-tasks",
        "3",
        "--max-tries",
        "12",
    ]
    result = CliRunner().invoke(tasks_app, args)
    assert result.exit_code == 0, result.output
    assert "tasks per core-hour" in result.output
    state = json.loads((out / "build_state.json").read_text())["packages"]
    assert all(r["status"] == "done" for r in state.values()), state
    files = sorted(p.name for p in out.glob("*.jsonl.gz"))
    assert files == ["isoweek.jsonl.gz", "minicalc.jsonl.gz"], files
    built = load_instances(out / "isoweek.jsonl.gz")
    assert built and built[0].sdist["name"] == "isoweek" and built[0].difficulty["level"]
    assert (
        built[0].sdist["url"].startswith("https://") and built[0].sdist["sha256"] == built[0].archive_sha256
    )
    again = CliRunner().invoke(tasks_app, args)
    assert again.exit_code == 0, again.output
    assert f"{outside}: done" in result.output and f"{outside}: done" not in again.output  # nothing rebuilt
    assert json.loads((out / "build_state.json").read_text())["packages"] == state


@pytest.mark.docker
def test_a_random_sample_of_20_shipped_tasks_validates(docker_or_skip):
    """Gold resolves and an empty patch does not, for 20 tasks drawn from the shipped suite (their
    sdists fetched from PyPI on first use), graded 2 at a time."""
    reason = _pypi_reason()
    if reason:
        pytest.skip(reason)
    from concurrent.futures import ThreadPoolExecutor

    from agentgym.tasks.swe.suite import load_suite
    from agentgym.tasks.swe.validate import validate_instance

    suite = load_suite()
    sample = random.Random(os.environ.get("AGENTGYM_SWE_SAMPLE_SEED", "0")).sample(suite, 20)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(validate_instance, sample))
    bad = [(v.instance_id, v.error or (v.gold.reason, v.empty.reason)) for v in results if not v.ok]
    assert not bad, bad


def test_rewrite_cli_takes_any_policy_string(tmp_path):
    from typer.testing import CliRunner

    from agentgym.envs.swe.cli import tasks_app
    from agentgym.tasks.swe.records import DEFAULT_TASKS, load_instances
    from agentgym.tasks.swe.source import swe_tasks

    out = tmp_path / "rewritten.jsonl.gz"
    issue = "After upgrading, comparing two equal objects says they differ; I expected them to be equal."
    result = CliRunner().invoke(
        tasks_app,
        ["rewrite", str(DEFAULT_TASKS), "--policy", f"scripted:{issue}", "--limit", "2", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "rewrote 2 problem statements" in result.output
    rewritten = [i for i in load_instances(out) if i.problem_statement_rewrite]
    assert len(rewritten) == 2 and all(i.problem_statement for i in rewritten)
    tasks = swe_tasks(f"{out}?statement=rewrite")
    assert issue in tasks.get(rewritten[0].instance_id).prompt
    bad = CliRunner().invoke(tasks_app, ["rewrite", str(DEFAULT_TASKS), "--policy", "nosuchkind:x"])
    assert bad.exit_code == 2 and "nosuchkind" in bad.output


def test_rewrite_with_the_real_vllm_server(vllm_server):
    """A statement rewritten by SmolLM2 served by vLLM: the model's own words, or refused for a leak.

    The 135M model writes poor issues; what is checked is the path a user takes (a `vllm:` policy
    string, the real server) and that whatever is kept is the model's reply, not the template.
    """
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.rewrite import rewrite_all

    url, model, _ = vllm_server
    instances = load_instances()[:2]
    kept, refused = rewrite_all(instances, f"vllm:{url}#{model}?temperature=0&max_tokens=96")
    assert kept + refused == 2
    for inst in instances:
        if inst.problem_statement_rewrite:
            assert inst.problem_statement_rewrite.strip() != inst.problem_statement.strip()
            assert len(inst.problem_statement_rewrite.strip()) > 0


@pytest.mark.docker
def test_build_with_the_ray_executor(tmp_path, docker_or_skip):
    """`--executor ray` builds through Ray tasks (a local cluster the command starts itself), run as
    a user runs it: a fresh `agentgym` process, without any RAY_* state a previous test left behind."""
    pytest.importorskip("ray", reason="Ray is in the `ray` extra (pip install 'agentgym[ray]')")
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import load_instances

    local = write_minicalc_sdist(tmp_path)
    out = tmp_path / "built"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    cmd = [sys.executable, "-m", "agentgym.cli.main", "tasks", "swe", "build", "-p", str(local), "-o", str(out)]
    cmd += ["--executor", "ray", "-j", "1", "--max-tasks", "2", "--max-tries", "10"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tasks per core-hour" in done.stdout
    state = json.loads((out / "build_state.json").read_text())["packages"]
    assert [r["status"] for r in state.values()] == ["done"], state
    built = load_instances(out / "minicalc.jsonl.gz")
    assert built and all(i.FAIL_TO_PASS and i.difficulty["level"] for i in built)


@pytest.mark.docker
def test_a_verdict_names_the_tests_the_gold_patch_failed():
    """A gold patch that fails a PASS_TO_PASS test (e.g. a timing test on a loaded machine) is
    reported with that test's name, so flaky tests can be found from the results file."""
    from agentgym.rewards.functions.swebench import GradeResult
    from agentgym.tasks.swe.validate import Validation, verdict_row

    gold = GradeResult(resolved=False, usable=True, reason="0/1 FAIL_TO_PASS and 1/9 PASS_TO_PASS tests fail",
                       f2p_success=["t.py::fixed"], p2p_failure=["t.py::test_performance"])
    empty = GradeResult(resolved=False, usable=True, reason="1/1 FAIL_TO_PASS", f2p_failure=["t.py::fixed"])
    row = verdict_row(Validation("pkg-1", gold, empty, 1.0))
    assert row["ok"] is False and row["gold_failed_tests"] == ["t.py::test_performance"]
    assert verdict_row(Validation("pkg-2", None, None, 0.1, "RuntimeError: boom"))["gold_failed_tests"] == []


def test_validate_records_each_verdict_and_resumes(tmp_path, docker_or_skip):
    """`validate --results FILE` writes a verdict per task as it finishes; a rerun skips the judged
    tasks (a line cut short by a crash is ignored) and grades only the rest."""
    from typer.testing import CliRunner

    from agentgym.envs.swe.cli import tasks_app
    from agentgym.tasks.swe.records import load_instances

    first, second = (i.instance_id for i in load_instances()[:2])
    results = tmp_path / "verdicts.jsonl"
    once = CliRunner().invoke(tasks_app, ["validate", "-i", first, "--results", str(results)])
    assert once.exit_code == 0, once.output
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["instance_id"], r["ok"], r["gold_resolved"], r["empty_resolved"], r["gold_failed_tests"]) for r in rows] == [
        (first, True, True, False, [])
    ]
    with results.open("a") as handle:
        handle.write('{"instance_id": "' + second + '", "ok": tr')  # a crash mid-line
    again = CliRunner().invoke(tasks_app, ["validate", "-i", first, "-i", second, "--results", str(results), "-j", "2"])
    assert again.exit_code == 0, again.output
    assert "1 of 2 tasks already judged" in again.output and "this run validated 1 " in again.output
    judged = [json.loads(line) for line in results.read_text().splitlines() if line.endswith("}")]
    assert [r["instance_id"] for r in judged] == [first, second] and all(r["ok"] for r in judged)
    done = CliRunner().invoke(tasks_app, ["validate", "-i", first, "-i", second, "--results", str(results)])
    assert done.exit_code == 0 and "2 of 2 tasks already judged" in done.output and "this run validated 0 " in done.output
