"""`agentgym gateway`: serve a policy as an OpenAI chat-completions endpoint that records tokens.

Mounted by agentgym/cli/main.py as the `gateway` command. The gateway itself lives in
`agentgym.baselines.gateway`; FastAPI and uvicorn are imported only when it starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.common import (
    EXIT_FAILURE,
    check_output_path,
    check_port_free,
    cli_errors,
    err_console,
    fail,
    preflight_policy,
)


def gateway_command(
    policy: Annotated[str, typer.Option("--policy", "-p", help="the policy that answers: vllm:URL#MODEL, "
                                        "vllm-engine:PATH, smollm2, hf:PATH (token ids and logprobs recorded)")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8100,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    out: Annotated[Path, typer.Option("--out", "-o", help="trajectory file the finished episodes are appended to")]
    = Path("gateway.jsonl"),
) -> None:
    """Serve POLICY at /v1/chat/completions, recording each call's exact token ids and logprobs.

    Clients name their episode with the X-Agentgym-Episode header (else the request's model name
    is the key) and close it with POST /agentgym/episodes/KEY/finish {"reward": R}; the episode is
    then appended to --out as an agentgym trajectory record (each call one step).
    """
    with cli_errors():
        preflight_policy(policy)
        check_output_path(out, "--out")
    check_port_free(host, port)  # not after the model loads
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        fail("the gateway needs fastapi and uvicorn: pip install 'agentgym[gateway]'")
    from agentgym.baselines.gateway import Gateway, make_app
    from agentgym.policy import make_policy

    with cli_errors():
        backend = make_policy(policy)
    gateway = Gateway(backend, out=out)
    err_console.print(f"gateway: http://{host}:{port}/v1 -> {policy}; records -> {out} (Ctrl-C to stop)")
    try:
        uvicorn.run(make_app(gateway), host=host, port=port, log_level="warning")
    except Exception as exc:  # noqa: BLE001 - a server failure is one line
        fail(f"the gateway stopped: {exc}", EXIT_FAILURE)
    finally:
        gateway.close()
