"""Build a store the nightly run can read, from the generated demo data and the bundled grids."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridlib.errors import InputError
from gridlib.progress import track
from gridlib.store.base import Store, mask_dsn

__all__ = ["load_demo_store", "DEMO_FILES"]

log = logging.getLogger(__name__)

#: store layer -> file written by :func:`gridlib.demo.generate`
DEMO_FILES = {
    "cases": "cases.csv",
    "responsibility": "responsibility.csv",
    "components": "components.geojson",
    "frontage_zones": "frontage_zones.geojson",
    "road_sections": "road_sections.geojson",
    "truck_fixes": "fixes.parquet",
    "truck_permits": "permits.geojson",
    "truck_sites": "sites.geojson",
    "cameras": "cameras.geojson",
    "team_bases": "team_bases.geojson",
}


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        # as text: codes keep leading zeros and the nightly run does its own parsing and rejecting
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return gpd.read_file(path, engine="pyogrio")


def load_demo_store(store: Store, demo_dir: str | os.PathLike[str], *, grids: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
                    effective_date: str = "2026-01-01") -> list[str]:
    """Import the demo grid edition and the generated layers into *store*, in one transaction.

    Parameters
    ----------
    store : Store
        An empty or existing store (layers of the same names are replaced).
    demo_dir : path
        Output folder of :func:`gridlib.demo.generate`.
    grids : GeoDataFrame or path, optional
        The grid edition to import; default the bundled demo grids.
    effective_date : str
        When that edition took effect.

    Returns
    -------
    list of str
        The layers written.

    Examples
    --------
    >>> import os, tempfile
    >>> import gridlib as gl
    >>> work = tempfile.mkdtemp()
    >>> _ = gl.demo.generate(os.path.join(work, "demo"), seed=1, n_cases=100, n_trucks=9, n_extra_cameras=0)
    >>> store = gl.store.open(os.path.join(work, "store.gpkg"))
    >>> written = load_demo_store(store, os.path.join(work, "demo"))
    >>> written[:3], "grid_editions" in store.layers()
    (['cameras', 'cases', 'components'], True)
    """
    import gridlib as gl

    demo = Path(demo_dir)
    missing = [f for f in DEMO_FILES.values() if not (demo / f).exists()]
    if missing:
        raise InputError(f"{demo} lacks {missing}; generate it with `gridlib demo-data --out {demo}`")
    written = []
    with store.transaction():
        if not gl.grid.editions(store).shape[0]:
            source = grids if grids is not None else gl.datasets.demo_grids()
            gl.grid.import_edition(source, store, effective_date=effective_date,
                                   source_name="bundled demo grids (data/grids)")
        for layer, name in track(sorted(DEMO_FILES.items()), "loading demo layers"):
            store.write_layer(layer, _read(demo / name))
            written.append(layer)
        store.write_layer("roads", gl.datasets.demo_roads())
        store.write_layer("buildings", gl.datasets.demo_buildings())
        store.write_layer("water", gl.datasets.demo_water(polygons=True))
        written += ["roads", "buildings", "water"]
    log.info("demo store %s: %s", mask_dsn(store.url, store.url), ", ".join(written))
    return written
