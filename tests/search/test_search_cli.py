"""`agentgym tasks search build/validate` and `agentgym search query` through the real CLI app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentgym.envs.search.cli import app as search_app
from agentgym.envs.search.cli import tasks_app

runner = CliRunner()


def test_build_then_validate(tmp_path):
    out = tmp_path / "suite"
    result = runner.invoke(
        tasks_app, ["build", "--out", str(out), "--docs", "400", "--questions", "40", "--seed", "9"]
    )
    assert result.exit_code == 0, result.output
    for name in ("corpus.jsonl", "questions.jsonl", "suite.json", "index/agentgym_bm25.json"):
        assert (out / name).exists(), name
    args = ["validate", "--corpus", str(out / "corpus.jsonl"), "--questions", str(out / "questions.jsonl")]
    result = runner.invoke(tasks_app, [*args, "--index", str(out / "index"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["oracle"]["oracle_em"] == 1.0
    assert report["retrieval"]["recall_by_hops"]["1"] >= 0.8
    assert report["questions"] == 40 and report["documents"] == 400

    result = runner.invoke(search_app, ["query", "In what year", "--index", str(out / "index"), "-k", "2"])
    assert result.exit_code == 0 and result.output.startswith("1. [d")


def test_validate_fails_on_missing_supporting_documents(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"id": "a", "contents": "Alpha\nAlpha was founded in 1900."}) + "\n", encoding="utf-8"
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "q1",
                "question": "When was Alpha founded?",
                "golden_answers": ["1900"],
                "supporting_doc_ids": ["zz"],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(tasks_app, ["validate", "--corpus", str(corpus), "--questions", str(questions)])
    assert result.exit_code == 1
    assert "not in the corpus" in result.output


def test_validate_external_flashrag_files_without_supporting_docs(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps({"id": str(i), "contents": f'"Place {i}"\nPlace {i} was founded in {1800 + i}.'})
            for i in range(30)
        )
        + "\n",
        encoding="utf-8",
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "q", "question": "When was Place 3 founded?", "golden_answers": "1803"}) + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        tasks_app, ["validate", "--corpus", str(corpus), "--questions", str(questions), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["oracle"]["oracle_em"] == 1.0


def test_bad_input_exits_2(tmp_path):
    result = runner.invoke(
        tasks_app, ["validate", "--corpus", str(tmp_path / "nope.jsonl"), "--questions", str(tmp_path / "q")]
    )
    assert result.exit_code == 2
