"""Terminal control sequences in agent-facing and human-facing text.

A sandboxed command or a page can print anything, including escape sequences that recolour,
retitle, clear or reprogram the terminal that displays them. Observations are stripped of them
before the agent or a record sees them (`strip_controls`): ANSI/VT escape sequences, other C0 and
C1 control characters and DEL are removed, line endings become `\\n`, tabs stay. Text shown to a
person (`agentgym replay`) is escaped instead (`escape_controls`), so a record written before the
stripping, or by another tool, still cannot reach the terminal raw.
"""

from __future__ import annotations

import re

# ESC [ ... final (CSI), ESC ] ... BEL or ESC \ (OSC), ESC P/X/^/_ ... ESC \ (DCS, SOS, PM, APC),
# ESC followed by one character (two-character sequences), and the 8-bit CSI (0x9b)
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -~]?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """`text` without escape sequences or control characters (tabs and newlines kept; `\\r\\n`
    and a lone `\\r` become `\\n`)."""
    if not _CONTROL.search(text):
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def escape_controls(text: str) -> str:
    """`text` with every control character (but tab and newline) shown as a visible escape
    (`\\x1b`), for printing to a terminal."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
