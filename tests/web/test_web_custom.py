"""Custom web tasks from files and `agentgym tasks web validate` (the family's `tasks web` commands)."""

import json

import pytest
from typer.testing import CliRunner

from agentgym.cli.main import app
from agentgym.envs.web.cli import tasks_app
from agentgym.envs.web.family import FAMILY
from agentgym.errors import TaskError
from agentgym.family import load_object
from agentgym.tasks.web import EXAMPLES
from agentgym.tasks.web.custom import custom_web_task, load_custom_tasks

EXAMPLE_FILE = EXAMPLES / "custom_tasks.jsonl"


def test_example_file_loads():
    tasks = load_custom_tasks(EXAMPLE_FILE)
    assert [t.id for t in tasks] == ["counter-to-three", "newsletter-deals", "table-lookup"]
    assert tasks[1].html and "Subscribe" in tasks[1].html  # html_file was read relative to the task file


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "a", "goal": "g", "html": "<p>x</p>"}, "success check"),
        ({"id": "a", "goal": "g", "success_js": "true"}, "exactly one of start_url, html, html_file"),
        ({"id": "a b", "goal": "g", "html": "x", "success_js": "true"}, "id"),
        ({"id": "a", "goal": "g", "html": "x", "success_js": "true", "bogus": 1}, "bogus"),
    ],
)
def test_bad_task_files_name_the_problem(tmp_path, record, message):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(TaskError) as info:
        load_custom_tasks(path)
    assert f"{path}:1" in str(info.value) and message in str(info.value)


def test_custom_task_keeps_its_checks_hidden():
    task = custom_web_task(load_custom_tasks(EXAMPLE_FILE)[0])
    assert task.suite == "custom" and task.subgoals == ["clicked_once"]
    assert task.spec["success_js"] and task.oracle
    public = task.public()
    assert "spec" not in public and "oracle" not in public


def test_tasks_web_commands_are_declared_by_the_family():
    assert FAMILY.commands["tasks web"] == "agentgym.envs.web.cli:tasks_app"
    assert load_object(FAMILY.commands["tasks web"]) is tasks_app


def _tasks_web(*args: str):
    """`agentgym tasks web ARGS` (mounted from the family's `commands`)."""
    return CliRunner().invoke(app, ["tasks", "web", *args])


def test_validate_cli_rejects_a_broken_file(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text("{not json\n")
    result = _tasks_web("validate", str(path))
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


@pytest.mark.browser
def test_validate_cli_runs_the_oracles(tmp_path):
    result = _tasks_web("validate", str(EXAMPLE_FILE))
    assert result.exit_code == 0, result.output
    assert "3/3 tasks solved" in result.output

    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({
        "id": "wrong-oracle", "goal": "Click Go.",
        "html": "<button data-agentgym-id='go' onclick=\"document.title='done'\">Go</button><button data-agentgym-id='no'>No</button>",
        "success_js": "document.title === 'done'", "oracle": ['click("no")', 'answer("")'],
    }) + "\n")
    result = _tasks_web("validate", str(wrong))
    assert result.exit_code == 1
    assert "0/1 tasks solved" in result.output
