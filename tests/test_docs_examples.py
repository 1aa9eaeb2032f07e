"""Every Python example in README.md and docs/*.md runs: a first user's first paste must work.

Blocks written as doctests (``>>>``) run through pytest's ``--doctest-glob='*.md'``; the
plain ``python`` blocks run here, in a folder holding the synthetic demo data (``cases.csv``,
``fixes.parquet`` …), as a user who ran ``gridlib demo-data`` would have it. A block that starts
a server is marked in the Markdown with ``<!-- docs-test: skip (reason) -->`` on the line before
its fence; the reason is shown in the test report.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import matplotlib
import pytest

REPO = Path(__file__).resolve().parents[1]
FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?:<!--\s*docs-test:\s*skip\s*\(([^)]*)\)\s*-->\s*\n)?```python\n(.*?)```", re.S)


def _blocks() -> list:
    out = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            code = m.group(2)
            if code.lstrip().startswith(">>>"):
                continue  # a doctest: run by --doctest-glob
            line = text[: m.start(2)].count("\n") + 1
            marks = [pytest.mark.skip(reason=m.group(1))] if m.group(1) else []
            out.append(pytest.param(path, code, id=f"{path.relative_to(REPO)}:{line}", marks=marks))
    return out


def test_every_doc_is_scanned():
    assert any(p.name == "README.md" for p in FILES) and len(FILES) > 5


@pytest.mark.parametrize(("path", "code"), _blocks())
def test_python_block_runs(path, code, demo_dir, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    for f in demo_dir.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{path.name}", "exec"), {"__name__": "__docs__"})
