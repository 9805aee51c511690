"""Check a search-QA suite: every supporting document exists, retrieval with the question alone
finds the supporting documents (recall@k, per hop count), and the oracle (follow the supporting
documents, answer the gold answer) reaches exact match 1 through the real env."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from agentgym.retrieval.types import Retriever
from agentgym.tasks.search.suite import SearchSuite


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def retrieval_recall(
    suite: SearchSuite, retriever: Retriever, k: int = 5, limit: int | None = None
) -> dict[str, Any]:
    """Recall@k of supporting documents when the question itself is the query."""
    tasks = [t for t in suite.tasks if t.supporting_doc_ids][:limit]
    by_hops: dict[str, list[float]] = defaultdict(list)
    first: list[float] = []
    allr: list[float] = []
    for task in tasks:
        found = {h.doc_id for h in retriever.search(task.question, k)}
        gold = task.supporting_doc_ids
        r = sum(d in found for d in gold) / len(gold)
        allr.append(r)
        first.append(float(gold[0] in found))
        by_hops[str(task.hops if task.hops is not None else len(gold))].append(r)
    return {
        "k": k,
        "questions": len(tasks),
        "recall": _mean(allr),
        "first_doc_recall": _mean(first),
        "recall_by_hops": {h: _mean(v) for h, v in sorted(by_hops.items())},
        "count_by_hops": {h: len(v) for h, v in sorted(by_hops.items())},
    }


def oracle_em(suite: SearchSuite, retriever: Retriever, limit: int | None = None) -> dict[str, Any]:
    """Run the oracle through SearchQAEnv on each question; EM, F1 and support recall means."""
    from agentgym.envs.search.env import SearchQAEnv

    env = SearchQAEnv(
        suite=suite, retriever=retriever, max_turns=max(10, 2 * max((t.hops or 1) for t in suite.tasks) + 2)
    )
    ems: list[float] = []
    f1s: list[float] = []
    recalls: list[float] = []
    failures: list[str] = []
    try:
        for task in suite.tasks[:limit]:
            env.reset(seed=0, options={"task_id": task.id})
            info: dict[str, Any] = {}
            for action in env.oracle_actions():
                _, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            metrics = info.get("metrics", {})
            ems.append(metrics.get("em", 0.0))
            f1s.append(metrics.get("f1", 0.0))
            recalls.append(metrics.get("support_recall", 0.0))
            if metrics.get("em", 0.0) < 1.0 and len(failures) < 10:
                failures.append(task.id)
    finally:
        env.close()
    n = max(1, len(ems))
    return {
        "questions": len(ems),
        "oracle_em": sum(ems) / n,
        "oracle_f1": sum(f1s) / n,
        "oracle_support_recall": sum(recalls) / n if any(t.supporting_doc_ids for t in suite.tasks) else None,
        "failed_ids": failures,
    }


def structural_problems(suite: SearchSuite, max_report: int = 20) -> list[str]:
    problems: list[str] = []
    for task in suite.tasks:
        missing = [d for d in task.supporting_doc_ids if d not in suite.corpus]
        if missing:
            problems.append(f"{task.id}: supporting documents not in the corpus: {', '.join(missing[:3])}")
        if not any(a.strip() for a in task.golden_answers):
            problems.append(f"{task.id}: empty gold answer")
        if len(problems) >= max_report:
            break
    return problems


def validate_suite(
    suite: SearchSuite, retriever: Retriever, k: int = 5, limit: int | None = None
) -> dict[str, Any]:
    problems = structural_problems(suite)
    report: dict[str, Any] = {
        "suite": suite.name,
        "documents": len(suite.corpus),
        "questions": len(suite.tasks),
        "problems": problems,
    }
    if not problems:
        report["retrieval"] = retrieval_recall(suite, retriever, k=k, limit=limit)
        report["oracle"] = oracle_em(suite, retriever, limit=limit)
    report["ok"] = not problems and report["oracle"]["oracle_em"] >= 1.0
    return report
