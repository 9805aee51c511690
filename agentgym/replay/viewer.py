"""Interactive terminal viewer for stored episodes (rich rendering, a termios key loop, no new deps).

Keys: ←/→ (h/l) previous/next turn · ↑/↓ (k/j) scroll · space/b page down/up · n/p next/previous
episode · g/G first/last turn · f cycle the quick filter (all, failed, invalid, stalled, passed) ·
t tokens and logprobs · ? help · q quit.

Turn 0 shows the task (system prompt, prompt, tools); turns 1..T the steps (action, parsed tool
calls, observation, components, the step's reward and its share of the return, tokens); the last
page the reward report with each level's gate state. The header always shows the episode's
returns under gated / direct / outcome and its gate states.

`ViewerState` holds the navigation and is driven by key names, so it is tested without a terminal;
`run_viewer` puts the terminal in cbreak mode, draws on the alternate screen and restores it.
"""

from __future__ import annotations

import io
import os
import select
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agentgym.cli.render import episode_header, episode_summary, format_components, report_table
from agentgym.replay.filters import EpisodeFilter, outcome_label, parse_filter, succeeded
from agentgym.replay.loading import Episode
from agentgym.terminal import escape_controls
from agentgym.trajectory import EpisodeRecord, StepRecord

QUICK_FILTERS: tuple[str | None, ...] = (None, "failed", "invalid", "stalled", "passed")
HELP = "←/→ turn  ↑/↓ scroll  space/b page  n/p episode  g/G first/last  f filter  t tokens  ? help  q quit"


@dataclass
class ViewerState:
    """Navigation state; `handle(key)` applies one key and returns False to quit."""

    episodes: Sequence[Episode]
    filters: Sequence[EpisodeFilter] = ()
    quick: int = 0
    ep: int = 0
    turn: int = 0
    scroll: int = 0
    page: int = 20
    show_tokens: bool = False
    show_help: bool = False
    message: str = ""
    visible: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refilter()

    # ---------------------------------------------------------------- derived
    @property
    def quick_filter(self) -> str | None:
        return QUICK_FILTERS[self.quick]

    def refilter(self) -> None:
        filters = list(self.filters)
        if self.quick_filter is not None:
            filters.append(parse_filter(self.quick_filter))
        current = self.episode
        self.visible = [e for e in self.episodes if all(f(e.record) for f in filters)]
        if current is not None and current in self.visible:
            self.ep = self.visible.index(current)
        else:
            self.ep, self.turn, self.scroll = 0, 0, 0

    @property
    def episode(self) -> Episode | None:
        visible = getattr(self, "visible", [])
        return visible[self.ep] if 0 <= self.ep < len(visible) else None

    @property
    def last_turn(self) -> int:
        """Index of the report page: steps are 1..T, the report T+1."""
        episode = self.episode
        return 0 if episode is None else len(episode.record.steps) + 1

    # ---------------------------------------------------------------- keys
    def _go_turn(self, turn: int) -> None:
        self.turn = max(0, min(turn, self.last_turn))
        self.scroll = 0

    def _go_episode(self, ep: int) -> None:
        if not self.visible:
            return
        new = max(0, min(ep, len(self.visible) - 1))
        if new == self.ep:
            self.message = "last episode" if ep > self.ep else "first episode"
            return
        self.ep, self.turn, self.scroll = new, 0, 0

    def handle(self, key: str) -> bool:
        self.message = ""
        if self.show_help and key not in ("q", "ctrl-c"):
            self.show_help = False
            return True
        if key in ("q", "ctrl-c", "esc"):
            return False
        if key in ("right", "l"):
            if self.turn >= self.last_turn:
                self.message = "end of episode (n: next episode)"
            self._go_turn(self.turn + 1)
        elif key in ("left", "h"):
            self._go_turn(self.turn - 1)
        elif key in ("g", "home"):
            self._go_turn(0)
        elif key in ("G", "end"):
            self._go_turn(self.last_turn)
        elif key in ("down", "j"):
            self.scroll += 1
        elif key in ("up", "k"):
            self.scroll = max(0, self.scroll - 1)
        elif key in (" ", "pgdn"):
            self.scroll += self.page
        elif key in ("b", "pgup"):
            self.scroll = max(0, self.scroll - self.page)
        elif key in ("n", "N", "]"):
            self._go_episode(self.ep + 1)
        elif key in ("p", "P", "["):
            self._go_episode(self.ep - 1)
        elif key == "f":
            self.quick = (self.quick + 1) % len(QUICK_FILTERS)
            self.refilter()
            self.message = f"filter: {self.quick_filter or 'all'} ({len(self.visible)} episodes)"
        elif key == "t":
            self.show_tokens = not self.show_tokens
        elif key == "?":
            self.show_help = True
        return True


# -------------------------------------------------------------------- rendering
def _gates_text(record: EpisodeRecord) -> Text:
    text = Text()
    report = record.report
    if record.reward_invalid:
        text.append("reward_invalid", style="bold red")
        if record.error:
            text.append(f" ({record.error[:80]})", style="red")
        return text
    if report is None:
        return text.append("no reward report", style="dim")
    text.append(
        f"return[{report.mode}]={report.return_:.4g}  gated={report.return_gated:.4g}  "
        f"direct={report.return_direct:.4g}  outcome={report.return_outcome:.4g}",
        style="bold",
    )
    gates = [lv for lv in report.levels if lv.gate_threshold is not None]
    if gates:
        text.append("   gates: ")
        for level in gates:
            style = "green" if level.gate_open else "red"
            mark = "open" if level.gate_open else "closed"
            text.append(f"{level.name} {level.value:.3g}>={level.gate_threshold:g} {mark}  ", style=style)
    label = outcome_label(record)
    if label is not None:
        ok = succeeded(record)
        text.append(f"  outcome={label}", style="green" if ok else "yellow")
    return text


def _tokens_renderable(step: StepRecord, full: bool) -> RenderableType | None:
    tokens = step.tokens
    if tokens is None or (tokens.completion_token_ids is None and tokens.prompt_token_ids is None):
        return None
    ids = tokens.completion_token_ids or []
    lps = tokens.logprobs or []
    summary = Text(style="dim")
    summary.append(f"tokens: prompt {len(tokens.prompt_token_ids or [])}, completion {len(ids)}")
    if lps:
        summary.append(f", logprob mean {sum(lps) / len(lps):.3f} min {min(lps):.3f} sum {sum(lps):.3f}")
    if not full:
        summary.append("   (t: show each token)")
        return summary
    body = Text()
    for i, token in enumerate(ids):
        lp = lps[i] if i < len(lps) else None
        style = (
            "green" if lp is not None and lp > -0.5 else "yellow" if lp is not None and lp > -2.5 else "red"
        )
        body.append(f"{token}", style=style)
        if lp is not None:
            body.append(f"({lp:.2f})", style="dim")
        body.append(" ")
    return Group(summary, body)


def _step_body(record: EpisodeRecord, step: StepRecord, show_tokens: bool) -> RenderableType:
    parts: list[RenderableType] = []
    action = Text()
    action.append("action", style="bold cyan")
    if not step.action_valid:
        action.append("  [invalid action]", style="bold red")
    action.append("\n")
    action.append(escape_controls(step.action) or "(no text)")
    for call in step.tool_calls:
        action.append(escape_controls(f"\n→ {call.get('name')}({call.get('arguments')})"), style="cyan")
    parts.append(Panel(action, border_style="cyan"))
    observation = Text()
    observation.append("observation\n", style="bold green")
    observation.append(escape_controls(step.observation))
    parts.append(Panel(observation, border_style="green"))
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("component", style="magenta")
    table.add_column("value", justify="right")
    for name, value in step.components.items():
        table.add_row(name, f"{value:g}" if isinstance(value, int | float) else str(value))
    trace = ""
    report = record.report
    index = record.steps.index(step)
    if report is not None and index < len(report.step_rewards):
        trace = f"   share of return: {report.step_rewards[index]:.4g}"
    flags = " ".join(f for f, on in (("terminated", step.terminated), ("truncated", step.truncated)) if on)
    parts.append(Group(table, Text(f"env reward: {step.reward:g}{trace}  {flags}", style="magenta")))
    tokens = _tokens_renderable(step, show_tokens)
    if tokens is not None:
        parts.append(tokens)
    if step.timing:
        parts.append(
            Text("timing: " + ", ".join(f"{k}={v:.3f}s" for k, v in step.timing.items()), style="dim")
        )
    return Group(*parts)


def _start_body(record: EpisodeRecord) -> RenderableType:
    parts: list[RenderableType] = []
    if record.system_prompt:
        parts.append(
            Panel(Text(escape_controls(record.system_prompt)), title="system prompt", title_align="left", border_style="dim")
        )
    parts.append(Panel(Text(escape_controls(record.prompt)), title="prompt", title_align="left"))
    names = [t.get("function", {}).get("name", "?") for t in record.tools]
    if names:
        parts.append(Text("tools: " + ", ".join(names), style="cyan"))
    if record.task:
        parts.append(
            Text(
                "task: " + format_components({k: v for k, v in record.task.items() if k != "prompt"}),
                style="dim",
            )
        )
    parts.append(Text(f"policy: {record.policy}", style="dim"))
    return Group(*parts)


def _end_body(record: EpisodeRecord) -> RenderableType:
    return Group(report_table(record), episode_summary(record))


def render_lines(state: ViewerState, width: int, height: int) -> list[str]:
    """The screen as ANSI lines (exactly `height` or fewer)."""
    console = Console(
        file=io.StringIO(), width=width, force_terminal=True, color_system="256", legacy_windows=False
    )

    def lines_of(renderable: RenderableType) -> list[str]:
        with console.capture() as capture:
            console.print(renderable)
        return capture.get().rstrip("\n").split("\n")

    episode = state.episode
    filt = " & ".join([f.text for f in state.filters] + ([state.quick_filter] if state.quick_filter else []))
    if episode is None:
        head = lines_of(
            Text(
                f"no episode matches the filter ({filt or 'all'}); f: next filter, q: quit", style="bold red"
            )
        )
        return head[:height]
    record = episode.record
    title = Text(f"[{state.ep + 1}/{len(state.visible)}]", style="bold reverse")
    if filt:
        title.append(f" filter: {filt}", style="yellow")
    title.append(f" {episode.label}  ")
    title.append_text(episode_header(record))
    header = lines_of(Group(title, _gates_text(record)))
    last = state.last_turn
    if state.turn == 0:
        where, body = "start (task)", _start_body(record)
    elif state.turn == last:
        where, body = "reward report", _end_body(record)
    else:
        step = record.steps[state.turn - 1]
        where, body = f"turn {state.turn}/{len(record.steps)}", _step_body(record, step, state.show_tokens)
    header += lines_of(Text(f"── {where} " + "─" * max(0, width - len(where) - 4), style="bold"))
    body_lines = lines_of(body)
    footer = lines_of(Text(state.message or HELP, style="dim" if not state.message else "bold yellow"))
    if state.show_help:
        body_lines = lines_of(Text(__doc__ or "", style="white"))
    room = max(1, height - len(header) - len(footer))
    scrolling = len(body_lines) > room
    if scrolling:
        room = max(1, room - 1)  # one line for the position indicator
    state.page = max(1, room - 1)
    state.scroll = max(0, min(state.scroll, max(0, len(body_lines) - room)))
    window = body_lines[state.scroll : state.scroll + room]
    if scrolling:
        more = f"lines {state.scroll + 1}-{state.scroll + len(window)} of {len(body_lines)} (↑/↓, space/b)"
        footer = lines_of(Text(more, style="dim")) + footer
    return (header + window + [""] * (room - len(window)) + footer)[:height]


# -------------------------------------------------------------------- terminal loop
_ESCAPES = {
    "[A": "up",
    "[B": "down",
    "[C": "right",
    "[D": "left",
    "[H": "home",
    "[F": "end",
    "OA": "up",
    "OB": "down",
    "OC": "right",
    "OD": "left",
    "OH": "home",
    "OF": "end",
    "[5~": "pgup",
    "[6~": "pgdn",
    "[1~": "home",
    "[4~": "end",
    "[7~": "home",
    "[8~": "end",
}


def read_key(fd: int) -> str:
    """One key press as a name (`right`, `pgdn`, ...) or the character itself."""
    first = os.read(fd, 1)
    if not first:
        return "eof"
    if first == b"\x03":
        return "ctrl-c"
    if first == b"\x1b":
        sequence = b""
        while select.select([fd], [], [], 0.05)[0]:
            sequence += os.read(fd, 1)
            if sequence[-1:].isalpha() or sequence.endswith(b"~"):
                break
        if not sequence:
            return "esc"
        return _ESCAPES.get(sequence.decode(errors="replace"), "unknown")
    if first in (b"\r", b"\n"):
        return "right"
    if first[0] >= 0x80:  # a UTF-8 character: read its continuation bytes
        data = first
        while select.select([fd], [], [], 0.01)[0] and len(data) < 4:
            data += os.read(fd, 1)
        return data.decode(errors="replace")
    return first.decode(errors="replace")


def run_viewer(
    episodes: Sequence[Episode],
    filters: Sequence[EpisodeFilter] = (),
    *,
    start_episode: int | Episode = 0,
    stdin: Any = None,
    stdout: Any = None,
) -> None:
    """Browse `episodes` interactively until `q`. Needs a TTY on stdin and stdout."""
    import termios
    import tty

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    fd = stdin.fileno()
    state = ViewerState(list(episodes), list(filters))
    if isinstance(start_episode, Episode):
        start_episode = state.visible.index(start_episode) if start_episode in state.visible else 0
    state._go_episode(start_episode)
    saved = termios.tcgetattr(fd)
    stdout.write("\x1b[?1049h\x1b[?25l")
    try:
        tty.setcbreak(fd)
        while True:
            size = shutil.get_terminal_size((100, 30))
            lines = render_lines(state, size.columns, size.lines)
            stdout.write("\x1b[H\x1b[2J" + "\n".join(lines))
            stdout.flush()
            key = read_key(fd)
            if key == "eof" or not state.handle(key):
                break
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        stdout.write("\x1b[?25h\x1b[?1049l")
        stdout.flush()
