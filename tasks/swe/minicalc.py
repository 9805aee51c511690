"""minicalc-0.1: a tiny sdist with a test suite, for smoke tests and benchmarks (grades in about a second)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

SOURCE = '''"""minicalc: small numeric helpers."""


def clamp(x, lo, hi):
    """Limit x to [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def mean(xs):
    """Arithmetic mean; ValueError on an empty sequence."""
    if len(xs) == 0:
        raise ValueError("mean of empty sequence")
    return sum(xs) / len(xs)


def chunks(xs, n):
    """Split xs into lists of n items (the last may be shorter)."""
    return [list(xs[i : i + n]) for i in range(0, len(xs), n)]


def is_even(n):
    return n % 2 == 0


def safe_div(a, b, default=None):
    """a / b, or default when b is 0."""
    if b == 0:
        return default
    return a / b
'''

TESTS = """import pytest

from minicalc import chunks, clamp, is_even, mean, safe_div


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_clamp_low():
    assert clamp(-3, 0, 10) == 0


def test_clamp_high():
    assert clamp(30, 0, 10) == 10


def test_clamp_edges():
    assert clamp(0, 0, 10) == 0 and clamp(10, 0, 10) == 10


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_mean_empty():
    with pytest.raises(ValueError):
        mean([])


def test_chunks():
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_is_even():
    assert is_even(4) and not is_even(7)


def test_safe_div():
    assert safe_div(6, 3) == 2
    assert safe_div(1, 0) is None
    assert safe_div(1, 0, default=0) == 0
"""


def write_minicalc_sdist(directory: Path) -> Path:
    """Write minicalc-0.1.tar.gz (a deterministic archive) into `directory`."""
    files = {
        "minicalc-0.1/PKG-INFO": "Metadata-Version: 2.1\nName: minicalc\nVersion: 0.1\n",
        "minicalc-0.1/minicalc/__init__.py": SOURCE,
        "minicalc-0.1/tests/test_minicalc.py": TESTS,
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    path = Path(directory) / "minicalc-0.1.tar.gz"
    path.write_bytes(buf.getvalue())
    return path
