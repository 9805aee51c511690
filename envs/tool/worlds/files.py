"""A small file system kept in SQLite: directories and text files, with list/read/write/move/delete."""

from __future__ import annotations

import posixpath
from typing import Any, ClassVar

from agentgym.errors import ToolError
from agentgym.tasks.tool.world_data import WORLD_DATA
from agentgym.tools import tool

from .base import World

MAX_CONTENT = 20_000


def _norm(path: str) -> str:
    path = path.strip()
    if not path.startswith("/"):
        raise ToolError(f"paths must be absolute (start with '/'), got {path!r}")
    if "\x00" in path:
        raise ToolError("paths cannot contain NUL characters")
    return posixpath.normpath(path).replace("//", "/")


#: paths below a directory: an exact, case-sensitive prefix test (LIKE would treat `%` and `_` in
#: an agent's directory name as wildcards, and ignores case: `/home/USER` is not `/home/user`)
BELOW = "substr(path, 1, length(?)) = ?"


def _prefix(path: str) -> str:
    return path.rstrip("/") + "/"


class FileSystemWorld(World):
    name = "files"
    description = "A small Unix-like file system: list, read, write, move and delete files."
    data = WORLD_DATA["files"]
    READ_ONLY: ClassVar[frozenset[str]] = frozenset({"list_directory", "read_file", "find_files"})

    def _get(self, path: str) -> dict[str, Any] | None:
        return self.row("SELECT * FROM files WHERE path=?", path)

    def _require_dir(self, path: str) -> None:
        node = self._get(path)
        if node is None or not node["is_dir"]:
            raise ToolError(f"directory {path!r} does not exist")

    @tool
    def list_directory(self, path: str) -> list[str]:
        """List a directory's entries (directories end with '/').

        Args:
            path: absolute directory path, e.g. "/home/user".
        """
        path = _norm(path)
        self._require_dir(path)
        prefix = path.rstrip("/") + "/"
        out = []
        for r in self.rows(f"SELECT path, is_dir FROM files WHERE {BELOW} ORDER BY path", prefix, prefix):
            rest = r["path"][len(prefix):]
            if rest and "/" not in rest:
                out.append(rest + ("/" if r["is_dir"] else ""))
        return out

    @tool
    def read_file(self, path: str) -> str:
        """Read a text file.

        Args:
            path: absolute file path.
        """
        path = _norm(path)
        node = self._get(path)
        if node is None or node["is_dir"]:
            raise ToolError(f"file {path!r} does not exist")
        return node["content"]

    @tool
    def find_files(self, name_contains: str) -> list[str]:
        """Find files whose name contains a substring, anywhere in the tree.

        Args:
            name_contains: the substring to look for in file names.
        """
        return [r["path"] for r in self.rows("SELECT path FROM files WHERE is_dir=0 ORDER BY path")
                if name_contains in posixpath.basename(r["path"])]

    @tool
    def write_file(self, path: str, content: str) -> str:
        """Create or overwrite a text file; its directory must exist.

        Args:
            path: absolute file path.
            content: the whole new content.
        """
        path = _norm(path)
        if len(content) > MAX_CONTENT:
            raise ToolError(f"content is {len(content)} characters; the limit is {MAX_CONTENT}")
        self._require_dir(posixpath.dirname(path))
        node = self._get(path)
        if node is not None and node["is_dir"]:
            raise ToolError(f"{path!r} is a directory")
        self.exec("INSERT OR REPLACE INTO files VALUES (?, 0, ?)", path, content)
        return f"Wrote {len(content)} characters to {path}."

    @tool
    def make_directory(self, path: str) -> str:
        """Create a directory; its parent must exist.

        Args:
            path: absolute directory path.
        """
        path = _norm(path)
        if self._get(path) is not None:
            raise ToolError(f"{path!r} already exists")
        self._require_dir(posixpath.dirname(path))
        self.exec("INSERT INTO files VALUES (?, 1, NULL)", path)
        return f"Created directory {path}."

    @tool
    def move_path(self, source: str, destination: str) -> str:
        """Move or rename a file or directory. If the destination is an existing directory, the source
        moves into it.

        Args:
            source: absolute path to move.
            destination: new absolute path, or an existing directory.
        """
        source, destination = _norm(source), _norm(destination)
        node = self._get(source)
        if node is None or source == "/":
            raise ToolError(f"{source!r} does not exist")
        target = self._get(destination)
        if target is not None and target["is_dir"]:
            destination = posixpath.join(destination, posixpath.basename(source))
            target = self._get(destination)
        if target is not None:
            raise ToolError(f"{destination!r} already exists")
        if destination.startswith(source.rstrip("/") + "/"):
            raise ToolError("cannot move a directory into itself")
        self._require_dir(posixpath.dirname(destination))
        for r in self.rows(f"SELECT path FROM files WHERE path=? OR {BELOW}", source, _prefix(source), _prefix(source)):
            self.exec("UPDATE files SET path=? WHERE path=?", destination + r["path"][len(source):], r["path"])
        return f"Moved {source} to {destination}."

    @tool
    def delete_path(self, path: str) -> str:
        """Delete a file or an empty directory.

        Args:
            path: absolute path.
        """
        path = _norm(path)
        node = self._get(path)
        if node is None or path == "/":
            raise ToolError(f"{path!r} does not exist")
        if node["is_dir"] and self.row(f"SELECT 1 AS x FROM files WHERE {BELOW}", _prefix(path), _prefix(path)):
            raise ToolError(f"directory {path!r} is not empty")
        self.exec("DELETE FROM files WHERE path=?", path)
        return f"Deleted {path}."
