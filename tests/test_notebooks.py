"""Execute every analyst notebook top to bottom (nbclient) and fail on any error.

Each notebook runs in its own temporary working directory with the session's demo data linked
in as ``demo-data/`` (the notebooks generate it themselves when it is missing). The kernel is
``python3``: jupyter_client starts it with this interpreter (``sys.executable``), so the venv's
gridlib is the one under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_all_issue_notebooks_present() -> None:
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01_grids_and_codes", "02_case_assignment", "03_case_indicators", "04_truck_compliance",
        "05_hotspots", "06_camera_coverage", "07_postgis_and_scale",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


# 07 starts its own throwaway PostGIS cluster (gridlib.testing.throwaway_postgis)
RUNS = [pytest.param(p, id=p.stem, marks=[pytest.mark.postgis] if p.stem.startswith("07") else [])
        for p in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.parametrize("path", RUNS)
def test_notebook_runs(path: Path, tmp_path: Path, demo_dir: Path) -> None:
    (tmp_path / "demo-data").symlink_to(demo_dir, target_is_directory=True)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 3, f"{path.name} shows {images} figures; an analyst notebook should show maps and plots"


def test_api_reference_lists_every_public_name() -> None:
    """docs/api.md has a section per module listing exactly its public names (``__all__``)."""
    import importlib
    import inspect
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    sections = re.split(r"^## gridlib\.(\S+)\s*$", text, flags=re.M)[1:]
    assert sections, "docs/api.md has no '## gridlib.<module>' sections"
    documented = {sections[i]: sections[i + 1] for i in range(0, len(sections), 2)}
    for required in ("crs", "io", "store", "codes", "grid", "index", "assignment", "cases", "trucks",
                     "hotspots", "coverage", "network", "maps", "demo", "datasets", "nightly"):
        assert required in documented, f"docs/api.md lacks a section for gridlib.{required}"
    for name, body in documented.items():
        module = importlib.import_module(f"gridlib.{name}")
        public = getattr(module, "__all__", None)
        if public is None:
            public = [n for n, o in vars(module).items() if not n.startswith("_")
                      and (inspect.isfunction(o) or inspect.isclass(o))
                      and getattr(o, "__module__", "").startswith(module.__name__)]
        listed = re.findall(r"^\| `([^`]+)` \|", body, flags=re.M)
        missing, stale = sorted(set(public) - set(listed)), sorted(set(listed) - set(public))
        assert not missing and not stale, (
            f"docs/api.md section gridlib.{name}: missing {missing}, no longer public {stale}")
