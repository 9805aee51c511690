"""`env.step` never raises for anything an agent can send, in every registered env (issue 15).

Text (with lone surrogates, NUL and control characters), bytes, None, numbers, lists, any dict,
message dicts with odd `content` / `tool_calls`, tool-call text around any JSON, nesting thousands
deep, megabytes of text: every step returns an observation saying what was wrong (action_valid
0), never an exception and never `reward_invalid` (which would mask a policy's mistake as an
infrastructure failure), and everything the step returns can be written as UTF-8 JSON. One shared
path does it (`agentgym.parsing`), so the property test runs on every env id the installed
families register, and the table below pins the inputs that raised before.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgym.errors import InfrastructureError
from agentgym.family import env_entries

ENV_IDS = sorted(env_entries())
#: families whose envs need a resource a plain machine may lack (the test skips when it is missing)
_RESOURCE_MARKS = {"web": pytest.mark.browser, "swe": pytest.mark.docker}


def _env_params() -> list[Any]:
    params = []
    for env_id in ENV_IDS:
        family = env_entries()[env_id][0].name
        marks = [_RESOURCE_MARKS[family]] if family in _RESOURCE_MARKS else []
        params.append(pytest.param(env_id, marks=marks, id=env_id))
    return params


class _Envs:
    """One env per id for the whole module (a browser or a sandbox pool is built once)."""

    def __init__(self) -> None:
        self.built: dict[str, gym.Env] = {}
        self.seed = 0

    def get(self, env_id: str) -> gym.Env:
        if env_id not in self.built:
            kwargs = dict(env_entries()[env_id][1].check_kwargs)
            try:
                env = gym.make(env_id, **kwargs)
                env.reset(seed=0)
            except InfrastructureError as exc:  # no browser, no Docker engine: not this test's subject
                pytest.skip(reason=f"{env_id} cannot run here: {exc}")
            self.built[env_id] = env
        return self.built[env_id]

    def fresh(self, env_id: str) -> gym.Env:
        env = self.get(env_id)
        self.seed += 1
        env.reset(seed=self.seed)
        return env

    def close(self) -> None:
        for env in self.built.values():
            env.close()


@pytest.fixture(scope="module")
def envs():
    pool = _Envs()
    yield pool
    pool.close()


# ====================================================================== what every step must satisfy
def _utf8_json(value: Any, what: str) -> None:
    """`value` is JSON-writable and its text encodes as UTF-8 (no lone surrogate anywhere)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise AssertionError(f"{what} cannot be written as UTF-8 JSON: {type(exc).__name__}: {exc}") from None


def check_step(env: gym.Env, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
    """Step and check the contract; resets the env when the episode ended. Returns the step."""
    result = env.step(action)
    assert isinstance(result, tuple) and len(result) == 5
    observation, reward, terminated, truncated, info = result
    text = observation["text"] if isinstance(observation, dict) else observation  # the web's dict form
    assert isinstance(text, str), type(observation)
    assert isinstance(reward, float) and math.isfinite(reward)
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(info["action_valid"], bool)
    assert info.get("reward_invalid") is not True, info.get("infrastructure_error")
    assert "infrastructure_error" not in info, info["infrastructure_error"]
    _utf8_json(text, "the observation")
    for key in ("components", "tool_calls", "tool_results", "trajectory_components", "metrics"):
        if key in info:
            _utf8_json(info[key], f"info[{key!r}]")
    if "report" in info:
        info["report"].model_dump_json().encode("utf-8")
    _utf8_json(env.unwrapped.transcript[-3:], "the transcript")
    if terminated or truncated:
        env.reset()
    return result


# ====================================================================== strategies
_NASTY = [
    "", " ", "\x00", "a\x00b", "\udcff", "\ud800", "x\udfffy", "\ud83d\ude00", "\ud83d", "\u2028\u2029",
    "\u202e\u0301", "\ufeff", "\x1b[31m", "\r\n\t\x0b\x0c", "'\"\\", "{", "}", "[]", "null", "</tool_call>",
    "<tool_call>", "\\udcff", "\\u0000", "NaN", "-Infinity", "1e999", "9" * 5000, "(" * 300,
]
# every code point, lone surrogates and control characters included
_chars = st.characters(exclude_categories=())
texts = st.one_of(st.text(_chars, max_size=40), st.sampled_from(_NASTY))
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from([10**400, -(10**4000), 2**64, float("nan")]))
json_leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    json_leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=15
)
# what Python can put in a dict but JSON cannot hold
python_values = st.recursive(
    json_leaves | st.binary(max_size=8) | st.builds(object) | st.sets(st.integers(), max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(texts | st.integers() | st.none() | st.tuples(st.integers()), inner, max_size=3)
    ),
    max_leaves=10,
)


def _message(**fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": "", **fields}


def _deep(depth: int, kind: str) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


deep_values = st.builds(_deep, st.integers(60, 3000), st.sampled_from(["list", "dict"]))


def _dumps(value: Any) -> str:
    """JSON text of `value` as an agent might write it (NaN included); "{}" when even that fails."""
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        return "{}"


def _deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def tool_names(draw: st.DrawFn, names: list[str]) -> str:
    return draw(st.sampled_from(names) | texts if names else texts)


@st.composite
def arguments(draw: st.DrawFn, names: list[str], params: dict[str, list[str]]) -> Any:
    """Arguments: an object (with the tool's own parameter names or any), a JSON string of any
    value, text that is no JSON, or any Python value."""
    name = draw(tool_names(names))
    keys = st.sampled_from(params.get(name) or ["x"]) | texts
    obj = draw(st.dictionaries(keys, json_values | deep_values, max_size=4))
    form = draw(st.sampled_from(["object", "json", "json_any", "text", "python", "deep_json"]))
    if form == "object":
        return name, obj
    if form == "json":
        return name, _dumps(obj)
    if form == "json_any":
        return name, _dumps(draw(json_values))
    if form == "text":
        return name, draw(texts)
    if form == "deep_json":
        return name, '{"a": ' + _deep_text(draw(st.integers(50, 5000))) + "}"
    return name, draw(python_values)


@st.composite
def call_objects(draw: st.DrawFn, names: list[str], params: dict[str, list[str]]) -> Any:
    name, args = draw(arguments(names, params))
    shape = draw(st.sampled_from(["plain", "openai", "parameters", "no_args", "garbage", "odd_name"]))
    if shape == "plain":
        return {"name": name, "arguments": args}
    if shape == "openai":
        return {"id": draw(texts | python_values), "type": "function", "function": {"name": name, "arguments": args}}
    if shape == "parameters":
        return {"name": name, "parameters": args}
    if shape == "no_args":
        return {"name": name}
    if shape == "odd_name":
        return {"name": draw(python_values), "arguments": args}
    return draw(python_values)


def _schema_value(draw: st.DrawFn, schema: Any, depth: int = 0) -> Any:
    """A value shaped like `schema` (a tool parameter's JSON schema) but filled with nasty text
    and odd numbers, or now and then any JSON value: calls that reach the tool itself."""
    if not isinstance(schema, dict) or depth > 3 or draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return _schema_value(draw, draw(st.sampled_from(options)), depth + 1)
    if schema.get("enum"):
        return draw(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = draw(st.sampled_from(kind))
    if kind == "string":
        return draw(texts | st.integers(0, 40).map(str))
    if kind == "integer":
        return draw(st.integers(-3, 40) | st.integers())
    if kind == "number":
        return draw(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-3, 40))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "array":
        return [_schema_value(draw, schema.get("items"), depth + 1) for _ in range(draw(st.integers(0, 3)))]
    if kind == "object":
        return {k: _schema_value(draw, v, depth + 1) for k, v in (schema.get("properties") or {}).items()}
    return draw(json_values)


@st.composite
def schema_calls(draw: st.DrawFn, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An assistant message calling one of the env's tools with schema-shaped arguments."""
    name = draw(st.sampled_from(sorted(schemas)))
    parameters = schemas[name]
    arguments = {k: _schema_value(draw, v) for k, v in (parameters.get("properties") or {}).items()
                 if k in (parameters.get("required") or []) or draw(st.booleans())}
    if draw(st.integers(0, 5)) == 0:
        arguments[draw(texts)] = draw(json_values)  # an argument the tool does not take
    encoded = json.dumps(arguments, ensure_ascii=draw(st.booleans()))
    return _message(tool_calls=[{"id": "c", "type": "function", "function": {"name": name, "arguments": encoded}}])


@st.composite
def actions(draw: st.DrawFn, schemas: dict[str, dict[str, Any]]) -> Any:
    names = sorted(schemas)
    params = {name: list(schema.get("properties") or {}) for name, schema in schemas.items()}
    kind = draw(st.sampled_from([
        "schema_call", "text", "bytes", "scalar", "python", "tool_call_text", "message", "grammar", "deep_text",
        "deep_message", *["schema_call"] * 5,  # calls that reach the tools: about 40% of the actions
    ]))
    if kind == "schema_call" and schemas:
        return draw(schema_calls(schemas))
    if kind == "text":
        return draw(texts)
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "scalar":
        return draw(st.none() | numbers | st.booleans())
    if kind == "python":
        return draw(python_values)
    if kind == "tool_call_text":
        blocks = []
        for _ in range(draw(st.integers(1, 3))):
            obj = draw(call_objects(names, params))
            body = _dumps(obj) if draw(st.booleans()) else draw(texts)
            close = draw(st.sampled_from(["</tool_call>", "", "</tool_call>\n"]))
            blocks.append(f"<tool_call>{body}{close}")
        return draw(texts) + "".join(blocks) + draw(texts)
    if kind == "message":
        message: dict[Any, Any] = {}
        if draw(st.booleans()):
            message["role"] = draw(st.sampled_from(["assistant", "user"]) | python_values)
        if draw(st.booleans()):
            message["content"] = draw(
                texts | python_values | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": python_values}))
            )
        if draw(st.booleans()):
            message["tool_calls"] = draw(st.lists(call_objects(names, params), max_size=3) | python_values)
        if draw(st.booleans()):
            message[draw(texts | st.integers())] = draw(python_values)
        return message
    if kind == "grammar":  # shapes of the families' own text grammars: `click("1")`, `<search>q</search>`, `add 3`
        name = draw(tool_names(names))
        values = ", ".join(draw(st.lists(st.sampled_from(['"1"', "1", "-1e999", '"\\udcff"', "x", '"\\x00"']) | texts,
                                         max_size=3)))
        return draw(st.sampled_from([
            f"{name}({values})", f"<{name}>{values}</{name}>", f"{name} {values}", f"Action: {name}({values})\n",
            f"thinking...\n{name}({values})",
        ]))
    if kind == "deep_text":
        depth = draw(st.integers(50, 5000))
        return draw(st.sampled_from([
            '<tool_call>{"name": "x", "arguments": {"a": ' + _deep_text(depth) + "}}</tool_call>",
            "<tool_call>" + '{"a": ' * depth + "1" + "}" * depth + "</tool_call>",
            f"{draw(tool_names(names))}(" + "(" * depth + "1" + ")" * depth + ")",
            f"{draw(tool_names(names))}(" + "-" * depth + "1)",
        ]))
    # deep_message: nesting thousands deep inside a message dict, not only in text
    deep = draw(deep_values)
    name = draw(tool_names(names))
    return draw(st.sampled_from([
        {"role": "assistant", "content": deep},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": name, "arguments": {"a": deep}}}]},
        {"role": "assistant", "content": "", "tool_calls": deep},
        {"role": "assistant", "content": "", "tool_calls": [{"id": deep, "function": {"name": name, "arguments": {}}}]},
        {"role": "assistant", "content": "hi", "extra": deep},
    ]))


def _tool_schemas(env: gym.Env) -> dict[str, dict[str, Any]]:
    """Tool name -> its parameters' JSON schema, for the env's current tools."""
    return {t["function"]["name"]: t["function"].get("parameters") or {} for t in env.unwrapped.toolset.schemas()}


# ====================================================================== the property test
@pytest.mark.parametrize("env_id", _env_params())
def test_step_never_raises(envs, env_id):
    started = time.perf_counter()
    env = envs.fresh(env_id)
    schemas = _tool_schemas(env)
    # an env whose reset is slow (a server, a page, a sandbox per episode) gets fewer examples
    examples = 50 if time.perf_counter() - started < 0.3 else 25

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                     HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
    @given(action=actions(schemas))
    def run(action):
        check_step(env, action)

    run()


# ====================================================================== known failures, every env
def _deep_call(depth: int = 5000) -> str:
    return '<tool_call>{"name":"x","arguments":{"a":' + "[" * depth + "]" * depth + "}}</tool_call>"


def _call(name: str = "x", arguments: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments or {}, **extra}}


#: (label, action, action_valid expected: False, or None when the family decides, e.g. text it accepts)
KNOWN_CASES: list[tuple[str, Any, bool | None]] = [
    ("deep tool call text (RecursionError)", _deep_call(), False),
    ("deep object tool call text", "<tool_call>" + '{"a":' * 3000 + "1" + "}" * 3000 + "</tool_call>", False),
    ("deep arguments dict in a message", _message(tool_calls=[_call(arguments={"a": _deep(5000, "dict")})]), False),
    ("deep list arguments in a message", _message(tool_calls=[_call(arguments={"a": _deep(5000, "list")})]), False),
    ("deep arguments JSON string", _message(tool_calls=[_call(arguments='{"a":' + "[" * 5000 + "]" * 5000 + "}")]),
     False),
    ("deep content", {"role": "assistant", "content": _deep(5000, "list")}, False),
    ("deep tool_calls", _message(tool_calls=_deep(5000, "list")), False),
    ("deep call id", _message(tool_calls=[{"id": _deep(5000, "list"), "function": {"name": "x", "arguments": {}}}]),
     False),
    ("deep list action", _deep(5000, "list"), False),
    ("web grammar, lone surrogate", 'click("\udcff")', None),
    ("web grammar, surrogate escape", 'click("\\udcff")', None),
    ("web grammar, deep unary", "click(" + "-" * 19000 + "1)", None),
    ("web grammar, deep parentheses", "fill(" + "(" * 5000 + '"1"' + ")" * 5000 + ")", None),
    ("web grammar, long sum", "click(" + "+".join(["1"] * 9000) + ")", None),
    ("web grammar, infinite number", 'fill("1", 1e999)', None),
    ("dict with no content nor tool_calls", {"foo": "bar"}, False),
    ("empty message", {"role": "assistant"}, False),
    ("null content", {"role": "assistant", "content": None, "tool_calls": None}, False),
    ("empty text", "", False),
    ("lone surrogate text", "hi \udcff there", None),
    ("surrogate pair as two code points", "\ud83d\ude00", None),
    ("NUL text", "a\x00b", None),
    ("bytes", b"\xff\xfe\x00 not utf-8", None),
    ("None", None, False),
    ("int", 5, False),
    ("float NaN", float("nan"), False),
    ("list", [1, "a"], False),
    ("content dict", {"content": {"a": 1}}, False),
    ("content int", {"content": 5}, False),
    ("content parts with odd text", {"content": [{"type": "text", "text": 5}, "x", None]}, False),
    ("tool_calls a string", _message(tool_calls="x"), False),
    ("tool_calls a dict", _message(tool_calls={"name": "x"}), False),
    ("tool_calls non-dict items", _message(tool_calls=[1, None, "x"]), False),
    ("arguments JSON array", _message(tool_calls=[_call(arguments="[1, 2]")]), False),
    ("arguments JSON string", _message(tool_calls=[_call(arguments='"text"')]), False),
    ("arguments NaN", _message(tool_calls=[_call(arguments='{"a": NaN}')]), False),
    ("arguments huge number", _message(tool_calls=[_call(arguments='{"a": ' + "9" * 5000 + "}")]), False),
    ("arguments huge int object", _message(tool_calls=[_call(arguments={"a": 10**5000})]), False),
    ("arguments bytes", _message(tool_calls=[_call(arguments=b'{"a": 1}')]), False),
    ("arguments non-string keys", _message(tool_calls=[_call(arguments={(1, 2): 1})]), False),
    ("arguments object()", _message(tool_calls=[_call(arguments={"a": object()})]), False),
    ("arguments with surrogates", _message(tool_calls=[_call(arguments={"\udcff": "\ud800"})]), False),
    ("arguments surrogate escapes", '<tool_call>{"name": "x", "arguments": {"a": "\\udcff"}}</tool_call>', False),
    ("name with surrogate", _message(tool_calls=[_call(name="\udcff")]), False),
    ("name with control characters", _message(tool_calls=[_call(name="a\x00\n\x1b[31mb")]), False),
    ("name not a string", _message(tool_calls=[_call(name=["x"])]), False),
    ("name huge", _message(tool_calls=[_call(name="n" * 1_000_000)]), False),
    ("repeated keys", '<tool_call>{"name": "x", "name": "y", "arguments": {"a": 1, "a": 2}}</tool_call>', False),
    ("giant text", "word " * 400_000, None),
    ("giant tool call body", '<tool_call>{"name": "x", "arguments": {"a": "' + "b" * 2_000_000 + '"}}</tool_call>',
     False),
    ("many tool calls", _message(tool_calls=[_call()] * 5000), False),
    ("many tool call blocks", '<tool_call>{"name": "x"}</tool_call>' * 5000, False),
]


@pytest.mark.parametrize("env_id", _env_params())
def test_known_failures_are_invalid_actions(envs, env_id):
    """Each input that raised (or was silently accepted) before, in every env: a normal step."""
    env = envs.fresh(env_id)
    for label, action, valid in KNOWN_CASES:
        try:
            _, _, _, _, info = check_step(env, action)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
        except Exception as exc:
            raise AssertionError(f"{label}: step raised {type(exc).__name__}: {str(exc)[:300]}") from None
        if valid is not None:
            assert info["action_valid"] is valid, f"{label}: action_valid={info['action_valid']}"


#: text in the shape of the families' own grammars, with numbers no grammar can convert
GRAMMAR_CASES = ["add " + "9" * 5000, 'click("1", ' + "9" * 5000 + ")", "<search>" + "9" * 5000 + "</search>"]
#: envs whose family grammar still raises on them: a fix in the family (or in the core's `_parse`) is due
_GRAMMAR_RAISES: dict[str, str] = {}  # env id -> why its grammar still raises (none today)


def _grammar_params() -> list[Any]:
    params = []
    for param in _env_params():
        env_id = param.values[0]
        marks = list(param.marks)
        if env_id in _GRAMMAR_RAISES:
            marks.append(pytest.mark.xfail(reason=_GRAMMAR_RAISES[env_id], raises=ValueError, strict=True))
        params.append(pytest.param(env_id, marks=marks, id=env_id))
    return params


@pytest.mark.parametrize("env_id", _grammar_params())
def test_family_grammars_given_enormous_numbers(envs, env_id):
    env = envs.fresh(env_id)
    for action in GRAMMAR_CASES:
        check_step(env, action)


@pytest.mark.parametrize("env_id", _env_params())
def test_no_action_is_the_no_call_reply_in_every_family(envs, env_id):
    """A dict with neither content nor tool calls is no reply, as empty text is: the same invalid
    action with the same observation (BFCL multi-turn used to accept it as ending the user turn)."""
    env = envs.fresh(env_id)
    empty_obs, _, _, _, empty = check_step(env, "")
    obs, _, _, _, info = check_step(env, {"foo": "bar"})
    assert not empty["action_valid"] and not info["action_valid"]
    assert obs == empty_obs


def test_bfcl_multi_turn_needs_text_to_end_a_turn(envs):
    if "agentgym/BFCL-v0" not in ENV_IDS:
        pytest.skip(reason="the tool family is not installed")
    env = gym.make("agentgym/BFCL-v0", category="multi_turn_base")
    try:
        env.reset(seed=0)
        obs, _, terminated, _, info = check_step(env, {"foo": "bar"})
        assert not info["action_valid"] and "no tool call found" in obs
        assert info["components"]["turn_correct"] == 0 and env.unwrapped._turn_index == 0
        obs, _, _, _, info = check_step(env, "Done with this request.")
        assert info["action_valid"] and env.unwrapped._turn_index == 1  # text still ends the user turn
    finally:
        env.close()


def test_web_grammar_click_with_surrogate_is_parsed_clean(envs):
    if "agentgym/Web-v0" not in ENV_IDS:
        pytest.skip(reason="the web family is not installed")
    env = envs.fresh("agentgym/Web-v0")
    _, _, _, _, info = check_step(env, 'click("\udcff")')
    assert info["tool_calls"] == [{"id": info["tool_calls"][0]["id"], "name": "click", "arguments": {"id": "\ufffd"}}]


# ====================================================================== records of such episodes
NASTY_EPISODE = [  # actions no family accepts as a reply first; text a family may accept (and end on) last
    {"role": "assistant", "content": "x\ud800", "tool_calls": [_call(name="\udcff", arguments={"\udcff": b"\xff"})]},
    _deep_call(),
    {"role": "assistant", "content": None, "tool_calls": [_call(arguments={"a": _deep(3000, "dict")})]},
    {"role": "assistant", "content": None, "weird": {"n": float("nan"), "b": b"\x00", "big": 10**5000,
                                                     "deep": _deep(3000, "list"), 7: object()}},
    {"foo": "bar"},
    "hi \udcff \x00",
    {"role": "assistant", "content": [{"type": "text", "text": "\udcff"}]},
]


@pytest.mark.parametrize("env_id", ["agentgym/StallOrSubmit-v0", "agentgym/ToolUse-v0"])
def test_trajectory_of_nasty_actions_is_written_and_read_back(tmp_path, env_id):
    """The record keeps the policy's raw messages (surrogates, bytes, NaN, nesting thousands deep,
    a 5000-digit integer): the writer still writes one valid line and the reader reads it."""
    from agentgym.baselines.policies.scripted import ScriptedPolicy
    from agentgym.rollout import run_episode
    from agentgym.trajectory import TrajectoryWriter, read_trajectories

    if env_id not in ENV_IDS:
        pytest.skip(reason=f"{env_id} is not registered")
    kwargs = dict(env_entries()[env_id][1].check_kwargs)
    env = gym.make(env_id, max_turns=len(NASTY_EPISODE), **kwargs)
    try:
        record = run_episode(env, ScriptedPolicy(NASTY_EPISODE), seed=0, env_id=env_id, env_kwargs=kwargs,
                             catch=False)
    finally:
        env.close()
    assert not record.reward_invalid and record.error is None
    assert record.terminated or record.truncated
    assert len(record.steps) >= 6  # every action up to the first text reply was played
    assert not any(s.action_valid for s in record.steps[:5])
    path = tmp_path / "run.jsonl"
    with TrajectoryWriter(path, fsync=False) as writer:
        writer.write(record)
    read = read_trajectories(path)
    assert read.problems == [] and len(read.records) == 1
    again = read.records[0]
    assert path.read_bytes().decode("utf-8")
    assert [s.observation for s in again.steps] == [s.observation for s in record.steps]
    assert [s.components for s in again.steps] == [s.components for s in record.steps]
    assert again.steps[0].message["content"] == "x\ufffd"  # the surrogate replaced, as the env's parser does
    assert again.steps[5].action == "hi \ufffd \x00"
    assert again.steps[3].message["weird"]["n"] is None and again.steps[3].message["weird"]["b"] == "\x00"


def test_rollout_records_an_action_with_deeply_nested_content():
    from agentgym.baselines.policies.scripted import ScriptedPolicy
    from agentgym.rollout import run_episode

    env_id = "agentgym/StallOrSubmit-v0"
    if env_id not in ENV_IDS:
        pytest.skip(reason=f"{env_id} is not registered")
    env = gym.make(env_id, max_turns=1, **dict(env_entries()[env_id][1].check_kwargs))
    try:
        record = run_episode(env, ScriptedPolicy([{"content": _deep(5000, "list")}]), seed=0, catch=False)
    finally:
        env.close()
    assert not record.reward_invalid and record.steps[0].action == ""
