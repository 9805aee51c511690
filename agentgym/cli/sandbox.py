"""`agentgym sandbox ...`: build the base image, check the machine, clean up leftover containers."""

from __future__ import annotations

import typer

app = typer.Typer(help="Sandboxes: base image, health check, cleanup.", no_args_is_help=True)


@app.command("build-base")
def build_base(
    image: str = typer.Option(None, help="image tag (default agentgym/base:bookworm-1)"),
    mirror: str = typer.Option(None, help="Debian mirror (default: the one apt is configured with)"),
    force: bool = typer.Option(False, help="rebuild even when the image exists"),
) -> None:
    """Build the sandbox base image: debootstrap bookworm minbase + python3, pytest, git; docker import.

    Idempotent: skipped when `docker image inspect` finds the image.
    """
    from agentgym.sandbox.image import BASE_IMAGE, build_base_image

    try:
        build_base_image(image or BASE_IMAGE, mirror=mirror, force=force, log=lambda m: typer.echo(m))
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def doctor() -> None:
    """Check what sandboxes need: Docker engine, base image, bubblewrap."""
    import shutil
    import time

    from agentgym.sandbox.image import BASE_IMAGE, ROOTFS_DIR

    ok = True

    def line(good: bool, what: str, detail: str) -> None:
        typer.echo(f"[{'ok' if good else 'FAIL'}] {what}: {detail}")

    try:
        from agentgym.sandbox.docker_backend import docker_client

        client = docker_client()
        line(True, "docker engine", f"reachable, server {client.version().get('Version')}")
        try:
            img = client.images.get(BASE_IMAGE)
            line(True, "base image", f"{BASE_IMAGE} ({img.attrs.get('Size', 0) / 1e6:.0f} MB)")
            from agentgym.sandbox.docker_backend import DockerSandbox

            t0 = time.monotonic()
            with DockerSandbox() as sb:
                code, out = sb.run(
                    "python3 -c 'import pytest, sys; print(sys.version.split()[0], pytest.__version__)'"
                )
                net, _ = sb.run(
                    "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=1)'"
                )
            line(
                code == 0 and net != 0,
                "docker sandbox",
                f"python/pytest {out.strip()}, network {'isolated' if net else 'REACHABLE'}, {time.monotonic() - t0:.2f} s",
            )
            ok &= code == 0 and net != 0
        except Exception as exc:  # noqa: BLE001
            line(
                False,
                "base image",
                f"{BASE_IMAGE} missing or broken ({exc}); run `agentgym sandbox build-base`",
            )
            ok = False
    except Exception as exc:  # noqa: BLE001
        line(False, "docker engine", str(exc))
        ok = False
    from agentgym.sandbox.local_backend import bwrap_available

    reason = bwrap_available()
    line(reason is None, "bubblewrap", reason or "usable (local backend)")
    ok &= reason is None
    line(
        ROOTFS_DIR.joinpath("usr/bin/python3").exists(),
        "rootfs for local backend",
        str(ROOTFS_DIR)
        if ROOTFS_DIR.exists()
        else f"{ROOTFS_DIR} missing (local backend falls back to host /usr)",
    )
    line(
        shutil.which("debootstrap") is not None, "debootstrap", shutil.which("debootstrap") or "not installed"
    )
    raise typer.Exit(0 if ok else 1)


@app.command()
def prune(all_: bool = typer.Option(False, "--all", help="also remove sandboxes of live processes")) -> None:
    """Remove leftover sandbox containers (label agentgym.sandbox=1) whose owner process is gone."""
    from agentgym.sandbox.docker_backend import prune as do_prune

    removed = do_prune(all_owners=all_)
    typer.echo(f"removed {len(removed)} container(s)" + (": " + ", ".join(removed) if removed else ""))


@app.command("ls")
def list_() -> None:
    """List sandbox containers."""
    from agentgym.sandbox.docker_backend import list_sandboxes

    for c in list_sandboxes():
        typer.echo(
            f"{c.name}\t{c.status}\t{c.image.tags[0] if c.image.tags else c.image.id[:19]}\tpid={c.labels.get('agentgym.pid')}"
        )
