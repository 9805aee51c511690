"""One Chromium per env instance, driven through Playwright's sync API.

Debian's `/usr/bin/chromium` is launched through Playwright's `executable_path` (no
`playwright install`). Each episode gets a fresh browser context (no cookies, storage or history
leak between episodes). When Chromium dies, calls raise `InfrastructureError` (the env ends the
episode with `reward_invalid`) and the next `new_page()` relaunches it. `close()` leaves no
process behind.

The Playwright driver (a node process) is shared by all `Browser`s of one thread and stopped when
the last one closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from typing import Any

from agentgym.errors import InfrastructureError

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
]
DEFAULT_VIEWPORT = {"width": 1024, "height": 768}


def find_chromium() -> str:
    """The Chromium binary: $AGENTGYM_CHROMIUM, else /usr/bin/chromium (Debian), else PATH."""
    for candidate in (os.environ.get("AGENTGYM_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise InfrastructureError(
        "no Chromium found: install Debian's `chromium` (apt-get install chromium) or set AGENTGYM_CHROMIUM"
    )


class _Driver:
    """A per-thread, reference-counted Playwright driver."""

    _local = threading.local()

    @classmethod
    def acquire(cls) -> Any:
        state = getattr(cls._local, "state", None)
        if state is None or state["dead"]:
            from playwright.sync_api import sync_playwright

            manager = sync_playwright()
            state = {"manager": manager, "pw": manager.start(), "refs": 0, "dead": False}
            cls._local.state = state
        state["refs"] += 1
        return state["pw"]

    @classmethod
    def release(cls) -> None:
        state = getattr(cls._local, "state", None)
        if state is None:
            return
        state["refs"] -= 1
        if state["refs"] <= 0:
            state["dead"] = True
            cls._local.state = None
            try:
                state["manager"].__exit__(None, None, None)
            except Exception:
                pass


def _children(pid: int) -> list[int]:
    """Descendant process ids of `pid` (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def chromium_pids(root: int | None = None) -> list[int]:
    """Chromium processes below `root` (default: this process)."""
    pids = _children(root if root is not None else os.getpid())
    return [p for p in pids if "chrom" in _cmdline(p).split(" ")[0].lower()]


def is_dead_browser_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("target closed", "browser has been closed", "target page, context or browser has been closed",
                       "connection closed", "browser closed", "has been disconnected", "crash")
    )


class Browser:
    """A Chromium process with one live context/page at a time."""

    def __init__(self, *, headless: bool = True, viewport: dict[str, int] | None = None,
                 executable_path: str | None = None, extra_args: list[str] | None = None) -> None:
        self.headless = headless
        self.viewport = viewport or dict(DEFAULT_VIEWPORT)
        self.executable_path = executable_path or find_chromium()
        self.args = CHROMIUM_ARGS + list(extra_args or [])
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self.page: Any = None
        self.launches = 0
        self._pid: int | None = None

    # -------------------------------------------------------------- lifecycle
    def _launch(self) -> None:
        before = set(chromium_pids())
        if self._pw is None:
            self._pw = _Driver.acquire()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.executable_path, headless=self.headless, args=self.args,
                handle_sigint=False, handle_sigterm=False, handle_sighup=False,
            )
        except Exception as exc:  # driver gone too: restart it once
            _Driver.release()
            self._pw = _Driver.acquire()
            try:
                self._browser = self._pw.chromium.launch(
                    executable_path=self.executable_path, headless=self.headless, args=self.args,
                    handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                )
            except Exception as exc2:
                raise InfrastructureError(f"could not launch Chromium: {exc2}") from exc
        self.launches += 1
        self._pid = self._find_main_pid(before)

    @property
    def alive(self) -> bool:
        try:
            return self._browser is not None and self._browser.is_connected()
        except Exception:
            return False

    def new_page(self) -> Any:
        """Close the previous context and open a fresh one; relaunches a dead browser."""
        self.close_context()
        for attempt in range(2):
            if not self.alive:
                self._drop_browser()
                self._launch()
            try:
                self._context = self._browser.new_context(viewport=self.viewport, java_script_enabled=True)
                self._context.set_default_timeout(5000)
                self._context.set_default_navigation_timeout(10000)
                self.page = self._context.new_page()
                return self.page
            except Exception as exc:
                if attempt == 1:
                    raise InfrastructureError(f"could not open a browser page: {exc}") from exc
                self._drop_browser()
        raise AssertionError("unreachable")

    def close_context(self) -> None:
        if self._context is not None:
            try:
                self._context.close()
            except Exception:
                pass
        self._context = None
        self.page = None

    def _drop_browser(self) -> None:
        if self._browser is not None:
            pids = self.process_ids()
            try:
                self._browser.close()
            except Exception:
                pass
            self._kill(pids)
        self._browser = None
        self._context = None
        self.page = None

    @staticmethod
    def _find_main_pid(before: set[int]) -> int | None:
        for pid in chromium_pids():
            if pid not in before and "--type=" not in _cmdline(pid):
                return pid
        return None

    def browser_pid(self) -> int | None:
        """The main Chromium process of this browser (None when not running)."""
        return self._pid if self._pid is not None and _is_running(self._pid) else None

    def process_ids(self) -> list[int]:
        """This browser's Chromium processes (main process and its children)."""
        if self._pid is None:
            return []
        return [p for p in [self._pid, *_children(self._pid)] if _is_running(p)]

    @staticmethod
    def _kill(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def close(self) -> None:
        """Close the browser and the driver reference; kills leftover Chromium processes."""
        self.close_context()
        if self._browser is not None:
            pids = self.process_ids()
            try:
                self._browser.close()
            except Exception:
                pass
            deadline = time.monotonic() + 2.0
            while any(os.path.exists(f"/proc/{p}") and _is_running(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.02)
            self._kill([p for p in pids if _is_running(p)])
            self._browser = None
        if self._pw is not None:
            self._pw = None
            _Driver.release()


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False
