"""CLI for the search-QA family.

Declared in the family's `commands` (envs/search/family.py) and mounted by the core as
`agentgym tasks search ...` (`tasks_app`: build, validate) and `agentgym search ...` (`app`:
serve, index, query). Heavy imports stay inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.common import (
    EXIT_FAILURE,
    check_input_path,
    check_output_path,
    cli_errors,
    console,
    err_console,
    fail,
)

RETRIEVERS = ("bm25", "dense", "hybrid")


def _check_retriever(kind: str) -> None:
    if kind not in RETRIEVERS:
        fail(f"--retriever must be bm25, dense or hybrid, got {kind!r}")

tasks_app = typer.Typer(
    help="Search-QA suites: generate a fictional world, validate corpus + questions.", no_args_is_help=True
)
app = typer.Typer(
    help="Search-QA retrieval: build indexes, query them, serve them (Search-R1 API).", no_args_is_help=True
)

KindOpt = Annotated[str, typer.Option("--retriever", help="bm25 | dense | hybrid")]


def _retriever(corpus, kind: str, index: Path | None):
    from agentgym.retrieval.factory import build_retriever, load_retriever

    return load_retriever(index) if index else build_retriever(corpus, kind)


@tasks_app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    docs: Annotated[int, typer.Option("--docs", min=1, help="number of documents")] = 3000,
    questions: Annotated[int, typer.Option("--questions", min=1, help="number of questions")] = 600,
    seed: Annotated[int, typer.Option(min=0, help="world and question seed")] = 0,
    index: Annotated[
        str, typer.Option("--index", help="also build an index: bm25 | dense | hybrid | none")
    ] = "bm25",
    comparison_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of comparison questions among multi-hop")
    ] = 0.25,
) -> None:
    """Generate a contamination-free multi-hop suite (corpus.jsonl, questions.jsonl, suite.json, index/)."""
    import time

    from agentgym.tasks.search.suite import build_suite

    if index not in ("bm25", "dense", "hybrid", "none"):
        fail(f"--index must be bm25, dense, hybrid or none, got {index!r}")
    check_output_path(out, "--out", directory=True)
    with cli_errors(work=True):
        started = time.perf_counter()
        suite = build_suite(n_docs=docs, n_questions=questions, seed=seed, comparison_share=comparison_share)
        gen_s = time.perf_counter() - started
        suite.save(out)
        line = f"wrote {len(suite.corpus)} documents and {len(suite.tasks)} questions to {out} (generated in {gen_s:.1f} s)"
        if index != "none":
            from agentgym.retrieval.factory import build_retriever

            started = time.perf_counter()
            retriever = build_retriever(suite.corpus, index)
            if index == "hybrid":
                for sub in retriever.retrievers:
                    sub.save(out / "index" / sub.name)
            else:
                retriever.save(out / "index")
            line += f"; {index} index in {time.perf_counter() - started:.1f} s"
        console.print(line, highlight=False)


@tasks_app.command("validate")
def validate(
    corpus: Annotated[Path, typer.Option("--corpus", help="corpus JSONL {id, contents}")],
    questions: Annotated[
        Path, typer.Option("--questions", help="questions JSONL {id, question, golden_answers}")
    ],
    index: Annotated[
        Path | None, typer.Option("--index", help="a saved index directory (else built now)")
    ] = None,
    retriever: KindOpt = "bm25",
    k: Annotated[int, typer.Option("-k", min=1, help="recall@k")] = 5,
    limit: Annotated[int | None, typer.Option(min=1, help="check only the first N questions")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Recall@k of supporting documents and oracle EM; exit 1 when a check fails."""
    from agentgym.envs.search.validate import validate_suite
    from agentgym.tasks.search.suite import load_suite

    _check_retriever(retriever)
    check_input_path(corpus, "--corpus")
    check_input_path(questions, "--questions")
    check_input_path(index, "--index", kind="dir")
    with cli_errors():
        suite = load_suite(corpus=corpus, questions=questions)
    with cli_errors(work=True):
        report = validate_suite(suite, _retriever(suite.corpus, retriever, index), k=k, limit=limit)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        console.print(
            f"suite {report['suite']}: {report['documents']} documents, {report['questions']} questions"
        )
        for p in report["problems"]:
            err_console.print(f"problem: {p}", highlight=False, markup=False)
        if "retrieval" in report:
            r = report["retrieval"]
            by = ", ".join(
                f"{h} hop: {v:.3f} (n={r['count_by_hops'][h]})" for h, v in r["recall_by_hops"].items()
            )
            console.print(
                f"recall@{k} (question as query): {r['recall']:.3f}; first document {r['first_doc_recall']:.3f}; {by}"
            )
            o = report["oracle"]
            console.print(
                f"oracle: EM {o['oracle_em']:.3f}, F1 {o['oracle_f1']:.3f} over {o['questions']} questions"
            )
    if not report["ok"]:
        raise typer.Exit(EXIT_FAILURE)


@app.command("index")
def index_cmd(
    corpus: Annotated[Path, typer.Option("--corpus", help="corpus JSONL {id, contents}")],
    out: Annotated[Path, typer.Option("--out", "-o", help="index directory")],
    retriever: KindOpt = "bm25",
) -> None:
    """Build and save an index over a corpus JSONL file."""
    from agentgym.retrieval.corpus import Corpus
    from agentgym.retrieval.factory import build_retriever

    _check_retriever(retriever)
    check_input_path(corpus, "--corpus")
    check_output_path(out, "--out", directory=True)
    with cli_errors():
        c = Corpus.load_jsonl(corpus)
    with cli_errors(work=True):
        r = build_retriever(c, retriever)
        if retriever == "hybrid":
            for sub in r.retrievers:
                sub.save(out / sub.name)
        else:
            r.save(out)
    console.print(f"{retriever} index over {len(c)} documents saved to {out}", highlight=False)


def _load_any(corpus: Path | None, index: Path | None, kind: str, suite: str | None):
    from agentgym.retrieval.corpus import Corpus

    if index:
        return _retriever(None, kind, index)
    if corpus:
        return _retriever(Corpus.load_jsonl(corpus), kind, None)
    from agentgym.tasks.search.suite import default_suite, load_suite

    s = default_suite() if suite in (None, "default") else load_suite(suite)
    return _retriever(s.corpus, kind, None)


@app.command("query")
def query_cmd(
    text: Annotated[str, typer.Argument(help="the query")],
    corpus: Annotated[Path | None, typer.Option(help="corpus JSONL")] = None,
    index: Annotated[Path | None, typer.Option(help="saved index directory")] = None,
    suite: Annotated[str | None, typer.Option(help="suite directory (default: the built-in suite)")] = None,
    retriever: KindOpt = "bm25",
    k: Annotated[int, typer.Option("-k", min=1)] = 5,
) -> None:
    """Run one query and print the ranked documents."""
    _check_retriever(retriever)
    check_input_path(corpus, "--corpus")
    check_input_path(index, "--index", kind="dir")
    with cli_errors():
        r = _load_any(corpus, index, retriever, suite)
        for h in r.search(text, k):
            console.print(
                f"{h.rank + 1}. [{h.doc_id}] {h.score:.3f} {h.title}: {h.text[:160]}",
                highlight=False,
                markup=False,
            )


@app.command("serve")
def serve(
    corpus: Annotated[Path | None, typer.Option(help="corpus JSONL (indexed at start)")] = None,
    index: Annotated[Path | None, typer.Option(help="saved index directory")] = None,
    suite: Annotated[str | None, typer.Option(help="suite directory (default: the built-in suite)")] = None,
    retriever: KindOpt = "bm25",
    host: Annotated[str, typer.Option(help="bind address (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")] = 8000,
    topk: Annotated[int, typer.Option(min=1, help="default topk")] = 3,
) -> None:
    """Serve `POST /retrieve {queries, topk, return_scores}` (Search-R1's API) until Ctrl-C."""
    from agentgym.retrieval.server import RetrievalServer

    _check_retriever(retriever)
    check_input_path(corpus, "--corpus")
    check_input_path(index, "--index", kind="dir")
    with cli_errors():
        r = _load_any(corpus, index, retriever, suite)
        server = RetrievalServer(r, host=host, port=port, default_topk=topk)
    console.print(f"serving {r.name} retrieval on {server.url}/retrieve (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
