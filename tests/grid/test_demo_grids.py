"""The bundled demo grids rebuild byte-identically from the documented command."""

from __future__ import annotations

import hashlib
import runpy

import gridlib as gl

REPO = gl.datasets.data_dir().parent


def test_demo_grids_rebuild_byte_identically(tmp_path):
    pipeline = runpy.run_path(str(REPO / "pipelines" / "make_demo_grids.py"))
    pipeline["main"](["--out-dir", str(tmp_path)])
    for name in ("lujiazui_grids.gpkg", "lujiazui_grids_edited.gpkg"):
        built = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        bundled = hashlib.sha256((gl.datasets.data_dir() / "grids" / name).read_bytes()).hexdigest()
        assert built == bundled, f"{name} differs from the bundled file: rerun pipelines/make_demo_grids.py"
