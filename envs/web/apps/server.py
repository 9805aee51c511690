"""A small in-process HTTP server for the task apps: stdlib `http.server` in a daemon thread.

One server per env, bound to 127.0.0.1 on a free port. It serves whatever `App` the current
episode installed (`server.app = ShopApp(...)`); app state lives server-side in that object, so
success checks read it directly. Custom tasks' HTML is served from `server.static`.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        if values:
            return values[0]
        return self.query.get(name, default)

    def getlist(self, name: str) -> list[str]:
        return list(self.form.get(name, []))


@dataclass
class Response:
    body: str = ""
    status: int = 200
    location: str | None = None
    content_type: str = "text/html; charset=utf-8"


def redirect(location: str) -> Response:
    return Response(status=303, location=location)


Route = tuple[str, re.Pattern[str], Callable[..., Response]]


class App:
    """Base app: regex routes to handler methods; state is plain Python attributes."""

    prefix = ""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.visits: list[str] = []  # paths served (for subgoal checks)

    def route(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        self.routes.append((method, re.compile(f"^{self.prefix}{pattern}$"), handler))

    def handle(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                self.visits.append(request.path)
                return handler(request, *match.groups())
        return Response(page("Not found", "<h1>Page not found</h1>"), status=404)


STYLE = """
body{font-family:sans-serif;margin:0;color:#222}
header{background:#234;color:#fff;padding:8px 16px}
header a{color:#fff;margin-right:12px}
main{padding:12px 16px;max-width:900px}
.item{border-bottom:1px solid #ddd;padding:6px 0}
.error{color:#b00;font-weight:bold}
label{display:block;margin-top:6px}
.price{font-weight:bold}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, nav: str = "") -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><header>{nav}</header><main>{body}</main></body></html>"
    )


def aid(name: str) -> str:
    """An authored element id (stable across episodes, used by oracles)."""
    return f'data-agentgym-id="{esc(name)}"'


def q(value: str) -> str:
    return quote(str(value), safe="")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        form: dict[str, list[str]] = {}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, 1_000_000)).decode("utf-8", errors="replace")
            form = parse_qs(raw, keep_blank_values=True)
        request = Request(method=method, path=parts.path, query=query, form=form)
        owner = self.server.owner
        try:
            static = owner.static.get(parts.path)
            if static is not None:
                response = Response(static)
            elif owner.app is None:
                response = Response(page("No app", "<h1>No app is running</h1>"), status=503)
            else:
                with owner.lock:
                    response = owner.app.handle(request)
        except Exception as exc:  # an app bug must not kill the server thread
            response = Response(page("Server error", f"<h1>Server error</h1><p>{esc(exc)}</p>"), status=500)
        body = response.body.encode("utf-8")
        self.send_response(response.status)
        if response.location:
            self.send_header("Location", response.location)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: AppServer


class AppServer:
    """The per-env HTTP server."""

    def __init__(self) -> None:
        self.app: App | None = None
        self.static: dict[str, str] = {}
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"agentgym-web-{self.port}", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return path if "://" in path else self.origin + path

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)
