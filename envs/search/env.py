"""`agentgym/SearchQA-v0`: multi-hop question answering with a search tool.

Actions: tool calls `search(query, k)`, `open(doc_id)`, `answer(text)` (and `judge(useful, plan)`
with `judge=True`), in any format the core parses (OpenAI `tool_calls`, `<tool_call>` JSON), plus
the Search-R1 tag grammar: `<search>query</search>`, `<answer>text</answer>`, and here also
`<open>doc_id</open>` and `<judge>useful|not useful</judge>`. The first action tag in a reply is
executed (as in Search-R1); `<think>...</think>` blocks are ignored.

Observations: retrieved text is wrapped in `<information>...</information>` (Search-R1's
convention), and `info["information_spans"]` gives the (start, end) character spans of those
blocks in the observation, so trainers can mask retrieved tokens out of the loss.

Reward components (raw; `reward.yaml` combines them, G-RA by default):
- step: `gold_doc_retrieved` (share of the supporting documents first seen this step),
  `repeated_query` (1 when the query was searched before), `format_error` (1 when a reply holds
  several action tags or fabricates its own `<information>` block), `info_gain` (IGPO: increase of
  the policy's log-probability of the gold answer over the turn, when `answer_scorer` is given),
  `judge` (+1 right / -1 wrong verdict of the optional ReSeek-style judge action), plus the core's
  `action_valid` and `repeated_action`.
- trajectory: `outcome` (label: correct / wrong / no_answer), `em`, `f1`, `support_recall`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError, ToolError
from agentgym.parsing import parse_action
from agentgym.retrieval.types import Hit, Retriever
from agentgym.tasks.search.data import QATask
from agentgym.tasks.search.suite import SearchSuite
from agentgym.tools import ToolCall, Toolset, tool

try:
    from agentgym.rewards.functions.qa import exact_match, f1_score, normalize_answer
except ImportError:  # the reward layer names it `f1`
    from agentgym.rewards.functions.qa import exact_match, normalize_answer
    from agentgym.rewards.functions.qa import f1 as f1_score

AnswerScorer = Callable[[list[dict[str, Any]], str], float]

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_ACTION_TAG = re.compile(r"<(search|answer|open|judge)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_OPEN_TAG = re.compile(r"<(search|answer|open|judge)>", re.IGNORECASE)
_INFO_BLOCK = re.compile(r"<information>.*?</information>", re.DOTALL)
_YES = {"yes", "useful", "true", "sufficient", "helpful", "1"}
_NO = {"no", "not useful", "useless", "false", "insufficient", "unhelpful", "0", "not helpful"}

SYSTEM_PROMPT = (
    "You answer questions about a fictional world by searching its document collection. Your own "
    "knowledge of the real world does not help: every fact must be looked up. Search, read, follow "
    "the chain of facts the question needs, then answer with a short phrase (a name, a year, a word)."
)
PROMPT = """Answer the question below. Tools:
- search(query, k): the top-k passages for a query, each with its document id;
- open(doc_id): the whole document;
- answer(text): your final answer (a short phrase); this ends the episode.{judge}
Call tools as <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call>, or write <search>query</search>, \
<open>doc_id</open>, <answer>text</answer> (one action per reply; you may think inside <think>...</think> first).
Question: {question}"""
JUDGE_LINE = (
    "\n- judge(useful, plan): say whether the information from your last search was useful "
    "(true/false) and what you will do next; a correct judgement is rewarded. Tag form: <judge>useful</judge>."
)
INVALID_TAGS = (
    "Error: your reply holds no complete action. To search, put the query between <search> and "
    "</search>; to read a document, put its id between <open> and </open>; to give the final answer, "
    "put it between <answer> and </answer>."
)


def _load_suite(
    suite: SearchSuite | str | None,
    corpus: str | None,
    questions: str | None,
    n_docs: int,
    n_questions: int,
    seed: int,
) -> SearchSuite:
    from agentgym.tasks.search.suite import default_suite, generated_suite, load_suite

    if isinstance(suite, SearchSuite):
        return suite
    if corpus or questions:
        return load_suite(suite, corpus=corpus, questions=questions)
    if suite not in (None, "default", "generated"):
        return load_suite(suite)
    if suite == "generated" or (n_docs, n_questions, seed) != (3000, 600, 0):
        return generated_suite(n_docs, n_questions, seed)
    return default_suite()


class SearchQAEnv(AgentEnv):
    """Multi-hop QA over a corpus with BM25 / dense / hybrid search (see the module docstring)."""

    default_reward = Path(__file__).with_name("reward.yaml")
    component_bounds = {
        "gold_doc_retrieved": (0.0, 1.0),
        "repeated_query": (0.0, 1.0),
        "format_error": (0.0, 1.0),
        "info_gain": (-10.0, 10.0),
        "judge": (-1.0, 1.0),
    }
    default_max_turns = 10

    def __init__(
        self,
        *,
        suite: SearchSuite | str | None = None,
        corpus: str | None = None,
        questions: str | None = None,
        n_docs: int = 3000,
        n_questions: int = 600,
        world_seed: int = 0,
        hops: list[int] | int | None = None,
        retriever: str | Retriever = "bm25",
        index: str | None = None,
        retrieval_url: str | None = None,
        topk: int = 3,
        max_k: int = 10,
        passage_chars: int = 500,
        answer_scorer: AnswerScorer | None = None,
        judge: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("reward") is None and (answer_scorer is not None or judge):
            variant = (
                "full" if (answer_scorer is not None and judge) else "igpo" if answer_scorer else "reseek"
            )
            kwargs["reward"] = Path(__file__).with_name(f"reward_{variant}.yaml")
        super().__init__(**kwargs)
        self.suite = _load_suite(suite, corpus, questions, n_docs, n_questions, world_seed)
        tasks = self.suite.tasks
        if hops is not None:
            wanted = {hops} if isinstance(hops, int) else set(hops)
            tasks = [t for t in tasks if t.hops in wanted]
        if not tasks:
            raise TaskError(f"no questions left in suite {self.suite.name!r} (hops filter {hops!r})")
        self._tasks = {t.id: t for t in tasks}
        self._ids = list(self._tasks)
        self.topk = int(topk)
        self.max_k = int(max_k)
        self.passage_chars = int(passage_chars)
        self.answer_scorer = answer_scorer
        self.judge_enabled = bool(judge)
        self.retriever = self._make_retriever(retriever, index, retrieval_url)
        self._step_components = ["gold_doc_retrieved", "repeated_query", "format_error"]
        if answer_scorer is not None:
            self._step_components.append("info_gain")
        if self.judge_enabled:
            self._step_components.append("judge")
        self._reset_state()

    # ------------------------------------------------------------------ setup
    def _make_retriever(self, retriever: str | Retriever, index: str | None, url: str | None) -> Retriever:
        if url:
            from agentgym.retrieval.server import RemoteRetriever

            return RemoteRetriever(url, corpus=self.suite.corpus)
        if not isinstance(retriever, str):
            return retriever
        from agentgym.retrieval.factory import retriever_for_corpus

        return retriever_for_corpus(self.suite.corpus, kind=retriever, index=index, cache_key=self.suite.name)

    def _reset_state(self) -> None:
        self.answer_text: str | None = None
        self.seen_docs: set[str] = set()
        self.gold_seen: set[str] = set()
        self.queries: list[str] = []
        self._query_keys: set[str] = set()
        self.last_retrieved: list[str] | None = None
        self.judgements: list[bool] = []
        self.n_searches = 0
        self.n_opens = 0
        self._score: float | None = None
        self._step_message: dict[str, Any] | None = None
        self._step_observations: list[str] = []
        self._tag_error: str | None = None

    def task_ids(self) -> list[str]:
        return list(self._ids)

    def default_system_prompt(self) -> str:
        return SYSTEM_PROMPT

    def _tools(self) -> Toolset:
        tools = [self.search, self.open, self.answer]
        if self.judge_enabled:
            tools.append(self.judge)
        return Toolset(tools)

    @property
    def qa_task(self) -> QATask:
        assert isinstance(self.task, QATask), "call reset() first"
        return self.task

    def _start_episode(self, task_id: str | None, options: dict[str, Any]) -> EpisodeStart:
        task_id = self._pick_task_id(task_id, self._ids, self._tasks, hint=f"suite {self.suite.name!r}")
        task = self._tasks[task_id]
        self._reset_state()
        prompt = PROMPT.format(question=task.question, judge=JUDGE_LINE if self.judge_enabled else "")
        if self.answer_scorer is not None:
            base = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]
            self._score = float(self.answer_scorer(base, task.golden_answers[0]))
        return EpisodeStart(
            task=task.model_copy(update={"prompt": prompt}), prompt=prompt, system_prompt=SYSTEM_PROMPT
        )

    # ------------------------------------------------------------------ tools
    def _format_hits(self, hits: list[Hit]) -> str:
        lines = []
        for i, h in enumerate(hits, start=1):
            text = (
                h.text
                if len(h.text) <= self.passage_chars
                else h.text[: self.passage_chars].rstrip() + " ..."
            )
            lines.append(f"Doc {i} [{h.doc_id}] (Title: {h.title}) {text}")
        return "\n".join(lines)

    def _note_docs(self, doc_ids: list[str]) -> None:
        gold = self.qa_task.supporting_doc_ids
        new_gold = [d for d in doc_ids if d in gold and d not in self.gold_seen]
        if gold:
            self.emit("gold_doc_retrieved", len(new_gold) / len(gold))
        self.gold_seen.update(new_gold)
        self.seen_docs.update(doc_ids)
        self.last_retrieved = list(doc_ids)

    def _information(self, body: str) -> str:
        observation = f"<information>{body}</information>"
        self._step_observations.append(observation)
        self._information_gain()
        return observation

    @tool
    def search(self, query: str, k: int | None = None) -> str:
        """Search the document collection.

        Args:
            query: what to look for (keywords or a question).
            k: how many passages to return (default 3, at most 10).
        """
        query = " ".join(query.split())
        if not query:
            raise ToolError("the search query is empty; put keywords between <search> and </search>")
        k = self.topk if k is None else k
        if k < 1:
            raise ToolError("k must be at least 1")
        k = min(k, self.max_k)
        key = query.lower()
        self.emit("repeated_query", float(key in self._query_keys))
        self._query_keys.add(key)
        self.queries.append(query)
        self.n_searches += 1
        hits = self.retriever.search(query, k)
        self._note_docs([h.doc_id for h in hits])
        if not hits:
            return self._information("No documents matched the query.")
        return self._information(self._format_hits(hits))

    @tool
    def open(self, doc_id: str) -> str:
        """Read one whole document.

        Args:
            doc_id: a document id as shown in search results (e.g. d0001234).
        """
        doc_id = doc_id.strip().strip("[]")
        corpus = self.suite.corpus
        if doc_id not in corpus:
            raise ToolError(f"no document with id {doc_id!r}; use an id from the search results")
        self.n_opens += 1
        self._note_docs([doc_id])
        title, text = corpus.get(doc_id)
        return self._information(f"[{doc_id}] (Title: {title}) {text}")

    @tool
    def answer(self, text: str) -> str:
        """Give the final answer; this ends the episode.

        Args:
            text: the answer, as a short phrase (a name, a year, a word).
        """
        text = text.strip()
        if not text:
            raise ToolError("the answer is empty; put it between <answer> and </answer>")
        self.answer_text = text
        self.finish()
        return f"Answer recorded: {text}"

    @tool
    def judge(self, useful: bool, plan: str = "") -> str:
        """Judge whether the information from your last search or open was useful, and re-plan.

        Args:
            useful: true if the last retrieved documents help answer the question.
            plan: what you will do next (free text).
        """
        if self.last_retrieved is None:
            raise ToolError("nothing has been retrieved yet; search first, then judge")
        truth = any(d in self.qa_task.supporting_doc_ids for d in self.last_retrieved)
        correct = bool(useful) == truth
        self.judgements.append(correct)
        self.emit("judge", 1.0 if correct else -1.0)
        return "Judgement noted." + (f" Plan: {plan.strip()}" if plan.strip() else "")

    # ------------------------------------------------------------------ information gain (IGPO)
    def _information_gain(self) -> None:
        """Emit the increase of the policy's log-prob of the gold answer over this turn so far."""
        if self.answer_scorer is None or self._score is None or self._step_message is None:
            return
        messages = list(self.transcript) + [self._step_message]
        messages += [{"role": "tool", "content": obs} for obs in self._step_observations]
        score = float(self.answer_scorer(messages, self.qa_task.golden_answers[0]))
        self.emit("info_gain", score - self._score)
        self._score = score

    # ------------------------------------------------------------------ text grammar
    def _parse_text_action(self, text: str) -> list[ToolCall] | None:
        body = _THINK.sub("", text)
        matches = list(_ACTION_TAG.finditer(body))
        self._tag_error = None
        if not matches:
            opened = _OPEN_TAG.search(body)
            if opened:
                self._tag_error = (
                    f"Error: <{opened.group(1).lower()}> is not closed with </{opened.group(1).lower()}>. "
                    + INVALID_TAGS[len("Error: your reply holds no complete action. ") :]
                )
            else:
                self._tag_error = INVALID_TAGS
            return None
        if len(matches) > 1 or _INFO_BLOCK.search(body) or "<information>" in body:
            self.emit("format_error", 1.0)
        tag, content = matches[0].group(1).lower(), matches[0].group(2).strip()
        if not content:
            self._tag_error = (
                f"Error: <{tag}></{tag}> is empty. "
                + INVALID_TAGS[len("Error: your reply holds no complete action. ") :]
            )
            return None
        if tag == "search":
            return [ToolCall(name="search", arguments={"query": content})]
        if tag == "open":
            return [ToolCall(name="open", arguments={"doc_id": content})]
        if tag == "answer":
            return [ToolCall(name="answer", arguments={"text": content})]
        verdict = content.lower().split("|")[0].strip()
        useful = True if verdict in _YES else False if verdict in _NO else None
        if useful is None or not self.judge_enabled:
            # an argument the tool rejects: becomes an error observation through the toolset
            return [ToolCall(name="judge", arguments={"useful": content})]
        return [
            ToolCall(name="judge", arguments={"useful": useful, "plan": content.partition("|")[2].strip()})
        ]

    def _parse(self, action: Any):
        parsed = super()._parse(action)
        # every step reports the family's components (0 when nothing happened), so reports and
        # re-scoring see them in each step
        for name in self._step_components:
            self.emit(name, 0.0)
        return parsed

    def _no_call_message(self) -> str:
        if self._tag_error:
            return self._tag_error
        return INVALID_TAGS

    # ------------------------------------------------------------------ step: info spans for masking
    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self._step_observations = []
        self._tag_error = None
        self._step_message = None
        if self.answer_scorer is not None and self._active:
            parsed = parse_action(action)
            message: dict[str, Any] = {"role": "assistant", "content": parsed.text}
            if parsed.calls:
                message["tool_calls"] = [c.to_openai() for c in parsed.calls]
            self._step_message = message
        observation, reward, terminated, truncated, info = super().step(action)
        spans = [(m.start(), m.end()) for m in _INFO_BLOCK.finditer(observation)]
        info["information_spans"] = spans
        info["retrieved"] = bool(spans)
        return observation, reward, terminated, truncated, info

    # ------------------------------------------------------------------ outcome
    def _trajectory_components(self, truncated: bool) -> dict[str, float | str]:
        task = self.qa_task
        em = exact_match(self.answer_text, task.golden_answers) if self.answer_text is not None else 0.0
        f1 = f1_score(self.answer_text, task.golden_answers) if self.answer_text is not None else 0.0
        if self.answer_text is None:
            outcome = "no_answer"
        else:
            outcome = "correct" if em >= 1.0 else "wrong"
        gold = task.supporting_doc_ids
        recall = len(self.gold_seen) / len(gold) if gold else 0.0
        return {"outcome": outcome, "em": float(em), "f1": float(f1), "support_recall": float(recall)}

    def _episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        em = float(trajectory_components.get("em", 0.0))
        metrics = {
            "em": em,
            "f1": float(trajectory_components.get("f1", 0.0)),
            "success": em,
            "answered": float(self.answer_text is not None),
            "support_recall": float(trajectory_components.get("support_recall", 0.0)),
            "searches": float(self.n_searches),
            "turns": float(self.turn),
        }
        if self.qa_task.hops is not None:
            metrics["hops"] = float(self.qa_task.hops)
        if self.judgements:
            metrics["judge_accuracy"] = sum(self.judgements) / len(self.judgements)
        return metrics

    # ------------------------------------------------------------------ oracle
    def oracle_actions(self) -> list[str | dict[str, Any]]:
        """Search for each supporting document by its title (open it by id when the search would
        miss it), then answer with the first gold answer."""
        task = self.qa_task
        actions: list[str | dict[str, Any]] = []
        corpus = self.suite.corpus
        for doc_id in task.supporting_doc_ids:
            if doc_id not in corpus:
                raise TaskError(f"task {task.id}: supporting document {doc_id!r} is not in the corpus")
            title, _ = corpus.get(doc_id)
            found = title and any(h.doc_id == doc_id for h in self.retriever.search(title, self.topk))
            if found:
                call = {"name": "search", "arguments": {"query": title}}
            else:
                call = {"name": "open", "arguments": {"doc_id": doc_id}}
            actions.append(f"<tool_call>{json.dumps(call)}</tool_call>")
        actions.append(f"<answer>{task.golden_answers[0]}</answer>")
        return actions

    def normalized_answer(self) -> str | None:
        return normalize_answer(self.answer_text) if self.answer_text is not None else None
