"""On-disk judgment cache: sqlite, keyed by (model, prompt template version, input hash, sampling).

Only successful model outputs are stored (errors and timeouts are retried next time). The raw
text is cached, not the parsed score, so a parser fix applies to cached outputs. The default
location is ``$AGENTGYM_HOME/judge/cache.sqlite`` (``~/.cache/agentgym/judge``); set
``AGENTGYM_JUDGE_CACHE=off`` to disable caching globally.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from agentgym.rewards.judges.protocol import JudgeOutput, JudgeRequest


def judge_home() -> Path:
    base = os.environ.get("AGENTGYM_HOME") or str(Path.home() / ".cache" / "agentgym")
    return Path(base).expanduser() / "judge"


def input_hash(request: JudgeRequest) -> str:
    payload = json.dumps(request.as_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def cache_key(model_id: str, prompt_id: str, request: JudgeRequest) -> str:
    """sha256 over (model, prompt template id incl. version, input hash incl. sampling)."""
    return hashlib.sha256(f"{model_id}\x00{prompt_id}\x00{input_hash(request)}".encode()).hexdigest()


class JudgeCache:
    """A small thread-safe sqlite key -> model output store."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else judge_home() / "cache.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, model TEXT, prompt TEXT, "
            "output TEXT NOT NULL, created REAL)"
        )
        self._conn.commit()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> JudgeOutput | None:
        with self._lock:
            row = self._conn.execute("SELECT output FROM judgments WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        data: dict[str, Any] = json.loads(row[0])
        return JudgeOutput(text=data.get("text", ""), logprobs=data.get("logprobs"), meta={"cached": True})

    def put(self, key: str, model_id: str, prompt_id: str, output: JudgeOutput) -> None:
        if not output.ok:
            return
        data = json.dumps({"text": output.text, "logprobs": output.logprobs})
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO judgments (key, model, prompt, output, created) VALUES (?, ?, ?, ?, ?)",
                (key, model_id, prompt_id, data, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def default_cache_enabled() -> bool:
    return os.environ.get("AGENTGYM_JUDGE_CACHE", "").lower() not in ("off", "0", "false", "no")
