"""The base of every tool world: an in-memory SQLite database plus typed `@tool` methods.

A world is built from a seed (`World(seed)`): its schema and seeded rows come from the task data
(`data`, a `WorldData` of `agentgym.tasks.tool.world_data`, which the task generator reads too),
so the same seed always gives the same rows. Tools read and write the database; an agent-caused
failure raises `ToolError` (an error observation, the database unchanged: every tool call runs in
a savepoint that is rolled back on error). `state_hash()` is a canonical digest of every table
(rows sorted), so two worlds are in the same state exactly when their hashes match: this is the
tau-bench outcome test.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from typing import Any, ClassVar

from agentgym.errors import ToolError
from agentgym.tasks.tool.world_data import WorldData, fmt_money, money, seed_database
from agentgym.tools import Tool, ToolCall, Toolset

__all__ = ["World", "WorldFactory", "fmt_money", "money"]


class World:
    """A stateful domain: its seed data (`data`: schema and seeded rows) and `@tool` methods."""

    name: ClassVar[str] = "world"
    description: ClassVar[str] = ""
    data: ClassVar[WorldData]
    #: tools that never change the database (their calls are not needed to reach the gold state)
    READ_ONLY: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self.db = seed_database(self.data, self.seed)
        self._toolset: Toolset | None = None

    # ------------------------------------------------------------------ helpers
    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, params).fetchall()]

    def row(self, sql: str, *params: Any) -> dict[str, Any] | None:
        found = self.db.execute(sql, params).fetchone()
        return dict(found) if found is not None else None

    def exec(self, sql: str, *params: Any) -> int:
        return self.db.execute(sql, params).rowcount

    def require(self, sql: str, *params: Any, error: str) -> dict[str, Any]:
        found = self.row(sql, *params)
        if found is None:
            raise ToolError(error)
        return found

    def tables(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]

    def dump(self) -> dict[str, list[list[Any]]]:
        """Every table's rows, canonically ordered."""
        return {table: [list(r) for r in self._sorted_rows(table)] for table in self.tables()}

    def _sorted_rows(self, table: str) -> list[tuple[Any, ...]]:
        width = len(self.db.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
        order = ", ".join(str(i) for i in range(1, width + 1))
        cursor = self.db.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
        cursor.row_factory = None
        return cursor.fetchall()

    def state_hash(self) -> str:
        """SHA-256 over every table's rows in SQL order of all columns (canonical)."""
        digest = hashlib.sha256()
        for table in self.tables():
            digest.update(table.encode())
            digest.update(repr(self._sorted_rows(table)).encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ tools
    def toolset(self) -> Toolset:
        """The world's tools, each wrapped in a savepoint (rolled back when the tool fails)."""
        if self._toolset is None:
            self._toolset = Toolset(_Transactional(t, self.db) for t in Toolset.from_object(self))
        return self._toolset

    def apply(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run one call directly (replaying gold actions); errors raise."""
        result = self.toolset().call(ToolCall(name=name, arguments=arguments))
        if not result.ok:
            raise ToolError(f"{name}({arguments}): {result.content}")
        return result.content

    def close(self) -> None:
        self.db.close()


class _Transactional(Tool):
    """A bound world tool that runs inside a SQLite savepoint."""

    def __init__(self, inner: Tool, db: sqlite3.Connection):  # noqa: D107 - copies the inner tool
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self._db = db

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._db.execute("SAVEPOINT tool_call")
        try:
            value = self._inner(*args, **kwargs)
        except BaseException:
            self._db.execute("ROLLBACK TO tool_call")
            self._db.execute("RELEASE tool_call")
            raise
        self._db.execute("RELEASE tool_call")
        return value


WorldFactory = Callable[[int], World]
