"""`agentgym env serve ENV_ID [-e k=v] --port P --max-envs N`: serve an env to trainers on other machines.

Mounted by agentgym/cli/main.py as `env`. The server (`agentgym.server`) holds a pool of at most
N envs; clients use them through `gymnasium.make("agentgym/Remote-v0", url=..., env_id=...)` or
the HTTP/WebSocket API. FastAPI and uvicorn are imported inside the command.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Serve envs to trainers on other machines.", no_args_is_help=True)


@app.command("serve")
def serve(
    env_id: Annotated[str, typer.Argument(help="the env to serve: agentgym/NAME-vN (see `agentgym list`)")],
    env_arg: Annotated[
        list[str] | None, typer.Option("--env-arg", "-e", help="env keyword argument key=value (repeatable)")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8040,
    host: Annotated[str, typer.Option(help="address to bind (0.0.0.0: every interface)")] = "127.0.0.1",
    max_envs: Annotated[int, typer.Option("--max-envs", min=1, help="most envs alive at once (one per session)")] = 8,
    session_timeout: Annotated[
        float, typer.Option(min=0.1, help="seconds a session may stay unused before it is closed")
    ] = 300.0,
    acquire_timeout: Annotated[
        float, typer.Option(min=0.0, help="seconds a new session waits for a free env before 503")
    ] = 60.0,
) -> None:
    """Serve reset/step/close of pooled envs over HTTP and WebSocket until Ctrl-C."""
    import logging

    from agentgym.cli.common import (
        EXIT_FAILURE,
        check_env_args,
        check_env_id,
        check_port_free,
        console,
        error_message,
        fail,
    )

    env_id = check_env_id(env_id)
    if env_id.endswith("Remote-v0"):
        fail(f"{env_id} is the client of an env server; serve the env itself (an id from `agentgym list`)")
    env_kwargs = check_env_args(env_id, env_arg)
    check_port_free(host, port)  # before any env is built
    try:
        import uvicorn

        from agentgym.server.app import create_app
        from agentgym.server.sessions import SessionManager
    except ImportError as exc:
        fail(f"the env server needs FastAPI and uvicorn ({exc}); pip install 'agentgym[server]'", EXIT_FAILURE)
    try:
        manager = SessionManager(env_id, env_kwargs, max_envs=max_envs, session_timeout=session_timeout,
                                 acquire_timeout=acquire_timeout)
    except (ValueError, TypeError) as exc:
        fail(f"{env_id}: {error_message(exc)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    console.print(f"serving {env_id} on http://{host}:{port} (ws://{host}:{port}/v1/ws), at most {max_envs} envs; "
                  f'client: gymnasium.make("agentgym/Remote-v0", url="http://{host}:{port}", env_id="{env_id}")',
                  highlight=False, soft_wrap=True)
    uvicorn.run(create_app(manager), host=host, port=port, log_level="warning", ws_max_size=1 << 30)
