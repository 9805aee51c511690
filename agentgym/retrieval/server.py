"""A retrieval server compatible with Search-R1's, on the standard library only.

`POST /retrieve` with `{"queries": [...], "topk": 3, "return_scores": true}` answers
`{"result": [[{"document": {"id", "contents"}, "score": s}, ...], ...]}` (one list per query;
without `return_scores`, the document records alone), as Search-R1's `retrieval_server.py` does,
so Search-R1-style trainers can point at it. `GET /health` answers `{"status": "ok", ...}`.
HTTP/1.1 keep-alive; one thread per connection. Bind to 127.0.0.1 only.

`RemoteRetriever(url)` is the client: a `Retriever` that queries such a server (ours or
Search-R1's) over a persistent connection per thread.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agentgym.retrieval.corpus import Corpus, split_contents
from agentgym.retrieval.types import Hit, Retriever

MAX_BODY = 10_000_000
MAX_TOPK = 1000


def handle_retrieve(retriever: Retriever, payload: Any, default_topk: int = 3) -> dict[str, Any]:
    """The Search-R1 `/retrieve` logic, independent of HTTP. Raises ValueError on bad input."""
    if not isinstance(payload, dict):
        raise ValueError("the request body must be a JSON object")
    queries = payload.get("queries")
    if isinstance(queries, str):
        queries = [queries]
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise ValueError("'queries' must be a list of strings")
    topk = payload.get("topk") or default_topk
    if not isinstance(topk, int) or isinstance(topk, bool) or not 1 <= topk <= MAX_TOPK:
        raise ValueError(f"'topk' must be an integer in 1..{MAX_TOPK}")
    return_scores = bool(payload.get("return_scores", False))
    results = retriever.batch_search(queries, topk)
    out = []
    for hits in results:
        if return_scores:
            out.append([{"document": h.to_search_r1(), "score": h.score} for h in hits])
        else:
            out.append([h.to_search_r1() for h in hits])
    return {"result": out}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    server: RetrievalServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") in ("/health", ""):
            r = self.server.retriever
            self._send(
                200, {"status": "ok", "retriever": r.name, "num_docs": len(getattr(r, "corpus", []) or [])}
            )
        else:
            self._send(404, {"error": f"no route {self.path}; use POST /retrieve"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/retrieve":
            self._send(404, {"error": f"no route {self.path}; use POST /retrieve"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(413 if length > MAX_BODY else 400, {"error": "bad Content-Length"})
            self.close_connection = True
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
            body = handle_retrieve(self.server.retriever, payload, self.server.default_topk)
        except (ValueError, json.JSONDecodeError) as exc:
            self._send(400, {"error": str(exc)})
            return
        except Exception as exc:  # a retriever failure: report it, keep serving
            self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._send(200, body)


class RetrievalServer(ThreadingHTTPServer):
    """`RetrievalServer(retriever, port=0)`; `.url`; `serve_forever()` or `start()` in a thread."""

    daemon_threads = True

    def __init__(
        self,
        retriever: Retriever,
        host: str = "127.0.0.1",
        port: int = 0,
        default_topk: int = 3,
        verbose: bool = False,
    ):
        super().__init__((host, port), _Handler)
        self.retriever = retriever
        self.default_topk = default_topk
        self.verbose = verbose
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RetrievalServer:
        self._thread = threading.Thread(target=self.serve_forever, name="agentgym-retrieval", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RetrievalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class RemoteRetriever:
    """A `Retriever` backed by a Search-R1-compatible `/retrieve` endpoint."""

    name = "remote"

    def __init__(self, url: str, corpus: Corpus | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http":
            raise ValueError(f"only http:// retrieval servers are supported, got {url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path.rstrip("/") or "") + (
            "/retrieve" if not parts.path.endswith("/retrieve") else ""
        )
        self.timeout = timeout
        self.corpus = corpus
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def _post(self, body: bytes) -> dict[str, Any]:
        for attempt in (0, 1):  # one retry on a connection the server closed
            conn = self._conn()
            try:
                conn.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
                continue
            if resp.status != 200:
                raise RuntimeError(f"retrieval server answered {resp.status}: {data[:300]!r}")
            return json.loads(data)
        raise RuntimeError("unreachable")

    def batch_search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        body = json.dumps({"queries": queries, "topk": k, "return_scores": True}).encode("utf-8")
        result = self._post(body)["result"]
        out: list[list[Hit]] = []
        for items in result:
            hits = []
            for rank, item in enumerate(items):
                doc, score = (item["document"], item.get("score", 0.0)) if "document" in item else (item, 0.0)
                title, text = split_contents(str(doc.get("contents", "")))
                hits.append(Hit(str(doc.get("id", rank)), float(score), rank, title, text))
            out.append(hits)
        return out

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.batch_search([query], k)[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
