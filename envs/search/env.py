"""`agentgym/SearchQA-v0`: multi-hop question answering with a search tool.

Actions: tool calls `search(query, k)`, `open(doc_id)`, `answer(text)` (and `judge(useful, plan)`
with `judge=True`), in any format the core parses (OpenAI `tool_calls`, `<tool_call>` JSON), plus
the Search-R1 tag grammar: `<search>query</search>`, `<answer>text</answer>`, and here also
`<open>doc_id</open>` and `<judge>useful|not useful</judge>`. The first action tag in a reply is
executed (as in Search-R1); `<think>...</think>` blocks are ignored.

Observations: retrieved text is wrapped in `<information>...</information>` (Search-R1's
convention), and `info["information_spans"]` gives the (start, end) character spans of those
blocks in the observation, so trainers can mask retrieved tokens out of the loss. Each block is
cut to fit the step's share of `max_observation_chars`, so the core never clips an observation
that carries spans.

Reward components (raw; `reward.yaml` combines them, G-RA by default), declared in
`SearchQAEnv.components`:
- step: `gold_doc_retrieved` (share of the supporting documents first seen this step),
  `repeated_query` (1 when the query was searched before), `format_error` (1 when a tag reply holds
  several action tags or fabricates its own `<information>` block), `info_gain` (IGPO: increase of
  the policy's log-probability of the gold answer over the turn, clipped to [-10, 10]; declared
  only when `answer_scorer` is given), `judge` (+1 right / -1 wrong verdict of the ReSeek-style
  judge action; declared only with `judge=True`), plus the core's `action_valid` and
  `repeated_action`.
- trajectory: `outcome` (label: correct / wrong / no_answer; success is `correct`), `em`, `f1`,
  `support_recall` (the checklist: share of the supporting documents retrieved).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError, ToolError
from agentgym.outcome import Outcome
from agentgym.retrieval.types import Hit, Retriever
from agentgym.rewards.components import Component, step_component, trajectory_component
from agentgym.rewards.functions.qa import exact_match, normalize_answer
from agentgym.rewards.functions.qa import f1 as f1_score
from agentgym.tasks.search.data import QATask
from agentgym.tasks.search.source import resolve_suite, suite_tasks
from agentgym.tasks.search.suite import DEFAULT_SUITE, SearchSuite
from agentgym.tools import ToolCall, Toolset, tool

AnswerScorer = Callable[[list[dict[str, Any]], str], float]

#: information gain is a difference of log-probabilities; it is clipped to +-INFO_GAIN_BOUND
INFO_GAIN_BOUND = 10.0
OUTCOMES = ("correct", "wrong", "no_answer")
_ECHO_CHARS = 200  # longest argument echoed back in an observation

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
_HOW_TO_ACT = (
    "To search, put the query between <search> and </search>; to read a document, put its id between "
    "<open> and </open>; to give the final answer, put it between <answer> and </answer>."
)
INVALID_TAGS = "Error: your reply holds no complete action. " + _HOW_TO_ACT


def _echo(text: str) -> str:
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + " ..."


class SearchQAEnv(AgentEnv[QATask]):
    """Multi-hop QA over a corpus with BM25 / dense / hybrid search (see the module docstring)."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        step_component(
            "gold_doc_retrieved", description="share of the supporting documents first seen this step"
        ),
        step_component("repeated_query", description="1 when the step's search repeats an earlier query"),
        step_component(
            "format_error",
            description="1 when a tag reply holds several action tags or its own <information>",
        ),
        step_component(
            "info_gain",
            -INFO_GAIN_BOUND,
            INFO_GAIN_BOUND,
            description="IGPO: gain of the policy's log-probability of the gold answer over the step "
            "(only with answer_scorer)",
        ),
        step_component(
            "judge", -1.0, 1.0, description="+1 right, -1 wrong verdict of the judge action (judge=True)"
        ),
        trajectory_component(
            "outcome", labels=OUTCOMES, description="correct (exact match), wrong, or no_answer (none given)"
        ),
        trajectory_component("em", description="exact match of the answer with a gold answer"),
        trajectory_component("f1", description="best token F1 of the answer against the gold answers"),
        trajectory_component("support_recall", description="share of the supporting documents retrieved"),
    )
    outcome = Outcome(component="outcome", success=("correct",), checklist="support_recall")
    default_max_turns = 10

    def __init__(
        self,
        *,
        suite: SearchSuite | str | None = None,
        corpus: str | None = None,
        questions: str | None = None,
        n_docs: int = DEFAULT_SUITE["n_docs"],
        n_questions: int = DEFAULT_SUITE["n_questions"],
        world_seed: int = DEFAULT_SUITE["seed"],
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
        # read by declared_components(), which AgentEnv.__init__ calls
        self.answer_scorer = answer_scorer
        self.judge_enabled = bool(judge)
        if kwargs.get("reward") is None and (answer_scorer is not None or judge):
            variant = (
                "full" if (answer_scorer is not None and judge) else "igpo" if answer_scorer else "reseek"
            )
            kwargs["reward"] = Path(__file__).with_name(f"reward_{variant}.yaml")
        self.suite = resolve_suite(suite, corpus, questions, n_docs, n_questions, world_seed)
        super().__init__(tasks=suite_tasks(self.suite, hops), **kwargs)
        self.topk = int(topk)
        self.max_k = int(max_k)
        self.passage_chars = int(passage_chars)
        self.retriever = self._make_retriever(retriever, index, retrieval_url)
        self._reset_state()

    def declared_components(self) -> dict[str, Component]:
        declared = super().declared_components()
        if self.answer_scorer is None:
            declared.pop("info_gain")
        if not self.judge_enabled:
            declared.pop("judge")
        return declared

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
        self._step_observations: list[str] = []
        self._tag_error: str | None = None

    def default_system_prompt(self) -> str:
        return SYSTEM_PROMPT

    _EPISODE_FIELDS = ("answer_text", "seen_docs", "gold_seen", "queries", "_query_keys", "last_retrieved",
                       "judgements", "n_searches", "n_opens", "_score", "_step_observations", "_tag_error")

    def save_state(self) -> dict[str, Any]:
        """The episode's state (the retriever and corpus are read-only and shared)."""
        return copy.deepcopy({name: getattr(self, name) for name in self._EPISODE_FIELDS})

    def load_state(self, state: dict[str, Any]) -> None:
        for name, value in copy.deepcopy(state).items():
            setattr(self, name, value)

    def make_tools(self) -> Toolset:
        tools = [self.search, self.open, self.answer]
        if self.judge_enabled:
            tools.append(self.judge)
        return Toolset(tools)

    def start_episode(self, task: QATask, options: dict[str, Any]) -> EpisodeStart:
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
        assert self.task is not None
        gold = self.task.supporting_doc_ids
        new_gold = [d for d in doc_ids if d in gold and d not in self.gold_seen]
        if gold:
            self.emit("gold_doc_retrieved", len(new_gold) / len(gold))
        self.gold_seen.update(new_gold)
        self.seen_docs.update(doc_ids)
        self.last_retrieved = list(doc_ids)

    def _information(self, body: str) -> str:
        """Wrap retrieved text in an <information> block, cut to the step's share of
        `max_observation_chars` (the spans must hold in the observation the agent gets)."""
        calls = len(self.last_action.calls) if self.last_action is not None else 1
        room = self.max_observation_chars // max(1, calls) - 64 - len("<information></information>")
        if len(body) > room:
            body = body[: max(0, room - 4)].rstrip() + " ..."
        observation = f"<information>{body}</information>"
        self._step_observations.append(observation)
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
            raise ToolError(f"no document with id {_echo(doc_id)!r}; use an id from the search results")
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
        return f"Answer recorded: {_echo(text)}"

    @tool
    def judge(self, useful: bool, plan: str = "") -> str:
        """Judge whether the information from your last search or open was useful, and re-plan.

        Args:
            useful: true if the last retrieved documents help answer the question.
            plan: what you will do next (free text).
        """
        assert self.task is not None
        if self.last_retrieved is None:
            raise ToolError("nothing has been retrieved yet; search first, then judge")
        truth = any(d in self.task.supporting_doc_ids for d in self.last_retrieved)
        correct = bool(useful) == truth
        self.judgements.append(correct)
        self.emit("judge", 1.0 if correct else -1.0)
        return "Judgement noted." + (f" Plan: {_echo(plan.strip())}" if plan.strip() else "")

    # ------------------------------------------------------------------ text grammar
    def parse_text_action(self, text: str) -> list[ToolCall] | None:
        body = _THINK.sub("", text)
        matches = list(_ACTION_TAG.finditer(body))
        self._tag_error = None
        if not matches:
            opened = _OPEN_TAG.search(body)
            if opened:
                tag = opened.group(1).lower()
                self._tag_error = f"Error: <{tag}> is not closed with </{tag}>. " + _HOW_TO_ACT
            else:
                self._tag_error = INVALID_TAGS
            return None
        # measured on every tag reply (0 for a well-formed one)
        self.emit("format_error", float(len(matches) > 1 or "<information>" in body))
        tag, content = matches[0].group(1).lower(), matches[0].group(2).strip()
        if not content:
            self._tag_error = f"Error: <{tag}></{tag}> is empty. " + _HOW_TO_ACT
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

    def no_call_message(self) -> str:
        return self._tag_error or INVALID_TAGS

    # ------------------------------------------------------------------ end of a step
    def end_step(self, observation: str, ending: bool) -> dict[str, Any]:
        """Information gain over the step's retrieved blocks (IGPO), and the spans of the
        <information> blocks in the observation (for masking retrieved tokens)."""
        if self.answer_scorer is not None and self._step_observations and self._score is not None:
            self._information_gain()
        spans = [(m.start(), m.end()) for m in _INFO_BLOCK.finditer(observation)]
        self._step_observations = []
        self._tag_error = None
        return {"information_spans": spans, "retrieved": bool(spans)}

    def _information_gain(self) -> None:
        """Emit the increase of the policy's log-prob of the gold answer over this step, given the
        conversation so far, this step's assistant message and its retrieved blocks."""
        assert self.task is not None and self.answer_scorer is not None and self._score is not None
        parsed = self.last_action
        message: dict[str, Any] = {"role": "assistant", "content": parsed.text if parsed is not None else ""}
        if parsed is not None and parsed.calls:
            message["tool_calls"] = [c.to_openai() for c in parsed.calls]
        messages = [*self.transcript, message]
        messages += [{"role": "tool", "content": obs} for obs in self._step_observations]
        score = float(self.answer_scorer(messages, self.task.golden_answers[0]))
        gain = score - self._score
        self.emit("info_gain", max(-INFO_GAIN_BOUND, min(INFO_GAIN_BOUND, gain)))
        self._score = score

    # ------------------------------------------------------------------ outcome
    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.task is not None
        task = self.task
        em = exact_match(self.answer_text, task.golden_answers) if self.answer_text is not None else 0.0
        f1 = f1_score(self.answer_text, task.golden_answers) if self.answer_text is not None else 0.0
        if self.answer_text is None:
            outcome = "no_answer"
        else:
            outcome = "correct" if em >= 1.0 else "wrong"
        gold = task.supporting_doc_ids
        recall = len(self.gold_seen) / len(gold) if gold else 0.0
        return {"outcome": outcome, "em": float(em), "f1": float(f1), "support_recall": float(recall)}

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        assert self.task is not None
        metrics = {
            "em": float(trajectory_components.get("em", 0.0)),
            "f1": float(trajectory_components.get("f1", 0.0)),
            "answered": float(self.answer_text is not None),
            "support_recall": float(trajectory_components.get("support_recall", 0.0)),
            "searches": float(self.n_searches),
        }
        if self.task.hops is not None:
            metrics["hops"] = float(self.task.hops)
        if self.judgements:
            metrics["judge_accuracy"] = sum(self.judgements) / len(self.judgements)
        return metrics

    # ------------------------------------------------------------------ oracle
    def oracle_actions(self) -> list[str | dict[str, Any]]:
        """Search for each supporting document by its title (open it by id when the search would
        miss it), then answer with the first gold answer."""
        assert self.task is not None
        task = self.task
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
