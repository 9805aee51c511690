"""MiniWoB++ tasks from the PyPI `miniwob` package, served from local `file://` URLs.

One task per HTML page of the package. Tasks that need pixel coordinates, dragging, drawing,
hovering or text selection cannot be done with element actions; they are listed in `EXCLUDED`
with the reason and left out of the suite (a task named explicitly, `task="drag-box"`, still
loads). The goal of a MiniWoB++ task is drawn by the page at the start of each episode, so these
tasks carry no prompt yet.
"""

from __future__ import annotations

from pathlib import Path

from agentgym.errors import TaskError

from .task import WebTask

EXCLUDED: dict[str, str] = {
    **{t: "drag and drop" for t in ("drag-box", "drag-circle", "drag-cube", "drag-items", "drag-items-grid",
                                    "drag-shapes", "drag-shapes-2", "drag-single-shape", "drag-sort-numbers")},
    **{t: "drawing with the mouse" for t in ("draw-circle", "draw-line")},
    **{t: "pixel coordinates" for t in ("bisect-angle", "circle-center", "right-angle", "find-midpoint",
                                        "chase-circle", "moving-items", "hot-cold", "count-sides",
                                        "daily-calendar", "use-colorwheel", "use-colorwheel-2", "click-pie",
                                        "click-pie-nodelay", "grid-coordinate", "resize-textarea")},
    **{t: "text selection / clipboard" for t in ("highlight-text", "highlight-text-2", "copy-paste",
                                                 "copy-paste-2", "text-editor")},
    **{t: "mouse hover" for t in ("hover-shape",)},
    **{t: "slider dragging" for t in ("use-slider", "use-slider-2")},
    **{t: "needs an HTTP server (flight data)" for t in ("book-flight", "book-flight-nodelay")},
    **{t: "needs watching an animation" for t in ("simon-says",)},
    **{t: "visual only: the targets carry no text in the DOM" for t in ("click-color", "tic-tac-toe")},
}


def html_dir() -> Path:
    try:
        import miniwob
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise TaskError("the MiniWoB++ suite needs the `miniwob` package: pip install 'agentgym[web]'") from exc
    return Path(miniwob.__file__).parent / "html" / "miniwob"


def all_task_names() -> list[str]:
    return sorted(p.stem for p in html_dir().glob("*.html"))


def playable_task_names() -> list[str]:
    return [t for t in all_task_names() if t not in EXCLUDED]


def canonical_name(task_id: str) -> str:
    """The suite's id for a MiniWoB++ task also named the Farama way (`miniwob/click-button-v1`)
    or the BrowserGym way (`miniwob.click-button`)."""
    return task_id.removeprefix("miniwob/").removeprefix("miniwob.").removesuffix("-v1")


def miniwob_task(task_id: str) -> WebTask:
    """The task of one MiniWoB++ page (excluded ones too); `TaskError` when there is no such page."""
    name = canonical_name(task_id)
    path = html_dir() / f"{name}.html"
    if not path.exists():
        raise TaskError(f"unknown MiniWoB task {task_id!r} (see agentgym.tasks.web.miniwob.playable_task_names())")
    url = path.as_uri()
    return WebTask(
        id=name,
        suite="miniwob",
        prompt="",
        start_url=url,
        allowed_origins=[url],
        metadata={"benchmark": "MiniWoB++", "excluded": EXCLUDED.get(name)},
    )


def miniwob_tasks(names: list[str] | None = None, include_excluded: bool = False) -> list[WebTask]:
    """The suite's tasks: `names`, else every playable page (every page with `include_excluded`)."""
    names = names or (all_task_names() if include_excluded else playable_task_names())
    return [miniwob_task(name) for name in names]
