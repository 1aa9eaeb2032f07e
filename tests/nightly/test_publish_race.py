"""Two runs publishing the same date at once never fail nor leave the link broken (issue 18 item 8)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from gridlib.nightly.outputs import atomic_products_dir
out, tag = sys.argv[1], sys.argv[2]
for i in range(300):
    with atomic_products_dir(out, "2026-11-20") as work:
        (work / "who.txt").write_text(f"{tag}{i}")
"""


def test_two_processes_publishing_at_once(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path), tag], stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    public = tmp_path / "2026-11-20"
    assert public.is_symlink() and (public / "who.txt").read_text() in ("a299", "b299")
    assert not list(tmp_path.glob(".*.link"))  # no temporary link left behind
    runs = [p for p in (tmp_path / ".runs").iterdir() if p.is_dir()]
    assert runs == [public.resolve()]  # every superseded run folder removed
