"""MCP servers that fail to start are reported by their cause (command not found, exit code,
handshake timeout) and the end of their stderr, never by the SDK's exception groups."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from agentgym.errors import InfrastructureError

pytest.importorskip("mcp", reason="the MCP bridge needs the mcp package (extra: tool)")

from agentgym.mcp.client import MCPClient, describe_error, leaf_errors  # noqa: E402


def _start_error(command: str, *args: str, **kwargs) -> str:
    with pytest.raises(InfrastructureError) as info:
        MCPClient([{"command": command, "args": list(args)}], **kwargs)
    message = str(info.value)
    assert "ExceptionGroup" not in message and "TaskGroup" not in message and "\n" not in message
    return message


def test_missing_command_is_named():
    message = _start_error("no-such-mcp-server-xyz", start_timeout=30)
    assert message == "MCP server no-such-mcp-server-xyz#0 failed to start: command not found: 'no-such-mcp-server-xyz'"


def test_server_that_exits_gives_its_exit_code_and_stderr_tail():
    script = "import sys; print('loading', file=sys.stderr); print('KeyError: API_TOKEN', file=sys.stderr); sys.exit(3)"
    message = _start_error(sys.executable, "-c", script, start_timeout=30)
    assert "failed to start: the server exited with code 3 before the MCP handshake completed" in message
    assert message.endswith("its stderr ends: loading | KeyError: API_TOKEN")


def test_program_that_is_not_an_mcp_server():
    message = _start_error(sys.executable, "-c", "print('hello')", start_timeout=30)
    assert "exited with code 0" in message and "is it an MCP server speaking stdio?" in message
    assert "it wrote nothing to stderr" in message


def test_server_that_never_answers_times_out_with_its_stderr():
    script = "import sys, time; print('waiting for a license server', file=sys.stderr, flush=True); time.sleep(60)"
    started = time.perf_counter()
    message = _start_error(sys.executable, "-c", script, start_timeout=3)
    assert time.perf_counter() - started < 30
    assert "did not finish the MCP handshake within 3 s" in message
    assert "its stderr ends: waiting for a license server" in message


def test_stderr_path_collects_the_servers_output(tmp_path):
    log = tmp_path / "servers.log"
    log.write_text("an earlier run's line\n")
    message = _start_error(sys.executable, "-c", "import sys; sys.exit('fatal: bad flag')", start_timeout=30,
                           stderr_path=str(log))
    assert "exited with code 1" in message and message.endswith("its stderr ends: fatal: bad flag")
    assert "an earlier run's line" in log.read_text() and "fatal: bad flag" in log.read_text()


def test_a_server_killed_later_is_named_with_its_signal():
    client = MCPClient([{"command": sys.executable, "args": ["-m", "agentgym", "mcp", "serve", "retail"]}])
    try:
        pid = client.server_pids()[0]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while client.alive() and time.time() < deadline:
            time.sleep(0.1)
        with pytest.raises(InfrastructureError, match=r"has exited \(killed by SIGKILL\)"):
            client.call(client.tool_names[0], {})
    finally:
        client.close()


def test_exception_groups_are_unwrapped():
    import asyncio

    group = ExceptionGroup("outer", [ExceptionGroup("inner", [ConnectionError("refused")])])
    assert describe_error(group) == "ConnectionError: refused"
    mixed = BaseExceptionGroup("g", [asyncio.CancelledError(), ValueError("bad")])
    assert isinstance(leaf_errors(mixed)[0], ValueError)
