"""GridSet: the unit grids of one edition, their parent levels and the edition record."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from gridlib.crs import metric_crs_for
from gridlib.errors import CRSError, InputError, StoreError
from gridlib.grid.build import GRID_COLUMNS, union_coverage
from gridlib.types import TimeLike

if TYPE_CHECKING:
    from gridlib.store.base import Store

__all__ = ["GridSet", "parents_from_grids", "write_edition", "LEVELS", "EDITIONS_LAYER", "GRIDS_LAYER", "PARENTS_LAYER"]

#: Parent levels and the length of their codes.
LEVELS = {"district": 6, "street": 9, "community": 12}
EDITIONS_LAYER = "grid_editions"
GRIDS_LAYER = "grids"
PARENTS_LAYER = "grid_parents"
_EDITION_KEYS = ("edition_id", "valid_from", "valid_to", "source", "note")


def parents_from_grids(grids: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Dissolve grids into district, street and community polygons (``code``, ``name``, geometry).

    >>> import geopandas as gpd
    >>> from shapely import box
    >>> g = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003002"],
    ...                       "community_code": ["410105001003"] * 2},
    ...                      geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4547)
    >>> p = parents_from_grids(g)
    >>> p["community"].code.tolist(), p["street"].code.tolist(), p["community"].area.tolist()
    (['410105001003'], ['410105001'], [2.0])
    """
    codes = _level_codes(grids)
    out = {}
    for level, length in LEVELS.items():
        code = codes.str[:length].to_numpy(dtype=object)
        name_col = f"{level}_name"
        names = grids[name_col].astype("string").fillna("").to_numpy(dtype=object) if name_col in grids else None
        geoms = grids.geometry.values
        order = np.argsort(code, kind="stable")
        code_s = code[order]
        uniq, start = np.unique(code_s, return_index=True)
        bounds = np.r_[start, len(code_s)]
        polys = []
        for s, e in zip(bounds[:-1], bounds[1:], strict=True):  # one union per parent unit, not per grid
            members = geoms[order[s:e]]
            polys.append(union_coverage(members))
        frame = {"code": uniq.astype(object)}
        frame["name"] = names[order[start]] if names is not None else np.full(len(uniq), "", dtype=object)
        out[level] = gpd.GeoDataFrame(frame, geometry=np.array(polys, dtype=object), crs=grids.crs)
    return out


def _level_codes(grids: gpd.GeoDataFrame) -> pd.Series:
    if "community_code" in grids:
        return grids["community_code"].astype("string")
    if "grid_code" in grids:
        return grids["grid_code"].astype("string").str[:12]
    raise InputError("grids need a grid_code or community_code column")


class GridSet:
    """The unit grids of one edition with their parent levels.

    Attributes
    ----------
    grids : GeoDataFrame
        One row per grid in a metric CRS: ``grid_code, community_code, street_code,
        district_code, community_name, street_name, district_name, area_m2`` and geometry.
    parents : dict
        ``{"district"|"street"|"community": GeoDataFrame(code, name, geometry)}``;
        dissolved from the grids on first use when not given.
    edition : dict
        ``edition_id, valid_from, valid_to, source, note``.
    crs : pyproj.CRS
        The metric CRS of the grids.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(0, 0, 300, 200)], crs="EPSG:4547")
    >>> gs = gl.GridSet.from_gdf(gl.grid.build(parents))
    >>> len(gs), gs.crs.to_epsg(), gs.parents["street"].code.tolist()
    (6, 4547, ['410105001'])
    """

    def __init__(self, grids: gpd.GeoDataFrame, parents: dict[str, gpd.GeoDataFrame] | None = None,
                 edition: Mapping[str, TimeLike | None] | None = None) -> None:
        self.grids = grids
        self._parents = parents
        self.edition = _edition_record(edition)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_gdf(cls, grids: gpd.GeoDataFrame, parents: dict[str, gpd.GeoDataFrame] | None = None,
                 edition: Mapping[str, TimeLike | None] | None = None) -> GridSet:
        """Wrap a grid GeoDataFrame: reproject to its metric CRS and fill the derived columns.

        Missing ``community_code``/``street_code``/``district_code`` are taken from
        ``grid_code``; ``area_m2`` is recomputed in the metric CRS.
        """
        if not isinstance(grids, gpd.GeoDataFrame):
            raise InputError("grids must be a GeoDataFrame")
        if "grid_code" not in grids:
            raise InputError(f"grids lack a grid_code column (have {list(grids.columns)})")
        if grids.crs is None:
            raise CRSError("grids have no CRS; set the CRS they were drawn in before using them")
        metric = metric_crs_for(grids)
        g = grids.to_crs(metric).copy()
        g["grid_code"] = g["grid_code"].astype("string").astype(object)
        for level, length in LEVELS.items():
            col = f"{level}_code"
            if col not in g:
                g[col] = g["grid_code"].str[:length]
            name = f"{level}_name"
            if name not in g:
                g[name] = ""
        g["area_m2"] = g.geometry.area
        if parents is not None:
            parents = {k: v.to_crs(metric) for k, v in parents.items()}
        return cls(g, parents, edition)

    @classmethod
    def from_store(cls, store: Store, at: TimeLike | None = None) -> GridSet:
        """Read the edition valid at time ``at`` (default: the current edition) from a store.

        Parameters
        ----------
        store : gridlib.store.Store
            A store written by :meth:`to_store` or :func:`gridlib.grid.import_edition`.
        at : date, datetime or ISO string, optional
            Any moment; the edition with ``valid_from <= at < valid_to`` is returned.
        """
        editions = edition_table(store)
        row = edition_at(editions, at)
        grids = store.read_layer(GRIDS_LAYER, where={"edition_id": row["edition_id"]})
        grids = grids.drop(columns=["edition_id"]).sort_values("grid_code", kind="stable").reset_index(drop=True)
        parents = None
        if store.has_layer(PARENTS_LAYER):
            p = store.read_layer(PARENTS_LAYER, where={"edition_id": row["edition_id"]})
            if len(p):
                parents = {lvl: p[p["level"] == lvl][["code", "name", "geometry"]].reset_index(drop=True)
                           for lvl in LEVELS}
        return cls(grids, parents, {k: row[k] for k in _EDITION_KEYS})

    def to_store(self, store: Store) -> str:
        """Write this grid set to *store* as the newest edition; return its ``edition_id``.

        The previous current edition gets ``valid_to = valid_from`` of this one.
        All writes happen in one transaction. No validation happens here: use
        :func:`gridlib.grid.import_edition` for planners' files.
        """
        with store.transaction():
            return write_edition(store, self)

    # ---------------------------------------------------------------- access
    @property
    def parents(self) -> dict[str, gpd.GeoDataFrame]:
        if self._parents is None:
            self._parents = parents_from_grids(self.grids)
        return self._parents

    @parents.setter
    def parents(self, value: dict[str, gpd.GeoDataFrame] | None) -> None:
        self._parents = value

    @property
    def crs(self) -> pyproj.CRS:
        return self.grids.crs

    def __len__(self) -> int:
        return len(self.grids)

    def __repr__(self) -> str:
        e = self.edition
        return (f"GridSet({len(self)} grids, edition={e.get('edition_id')!r}, valid {e.get('valid_from')}"
                f"–{e.get('valid_to') or 'now'}, crs=EPSG:{self.crs.to_epsg() if self.crs else None})")


def iso_date(value: TimeLike | float | None) -> str:
    """An edition date as ISO text (``""`` for none), from text, a date or a timestamp.

    >>> iso_date("2026-01-01"), iso_date(None)
    ('2026-01-01', '')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT or value == "":
        return ""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10]).isoformat() if len(value) == 10 else \
                dt.datetime.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise InputError(f"{value!r} is not an ISO date or datetime") from exc
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.isoformat() if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise InputError(f"{value!r} is not a date")


def _edition_record(edition: Mapping[str, TimeLike | None] | None) -> dict[str, Any]:
    e = dict(edition or {})
    unknown = set(e) - set(_EDITION_KEYS)
    if unknown:
        raise InputError(f"unknown edition fields {sorted(unknown)}; use {list(_EDITION_KEYS)}")
    return {
        "edition_id": str(e.get("edition_id") or ""),
        "valid_from": iso_date(e.get("valid_from")),
        "valid_to": iso_date(e.get("valid_to")),
        "source": str(e.get("source") or ""),
        "note": str(e.get("note") or ""),
    }


def edition_table(store: Store) -> pd.DataFrame:
    """The edition table of a store, oldest first (empty when no edition was written)."""
    cols = [*_EDITION_KEYS, "n_grids", "imported_at", "current", "crs"]
    if not store.has_layer(EDITIONS_LAYER):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    e = pd.DataFrame(store.read_layer(EDITIONS_LAYER))
    for c in ("valid_from", "valid_to", "source", "note", "edition_id", "imported_at", "crs"):
        e[c] = e[c].astype("string").fillna("").astype(object)
    return e.sort_values(["valid_from", "edition_id"], kind="stable").reset_index(drop=True)[cols]


def read_editions(store: Store) -> pd.DataFrame:
    """Deprecated name of :func:`edition_table` (``read_*`` readers return ``(accepted, rejects)``)."""
    warnings.warn("gridlib.grid.model.read_editions is deprecated; use gl.grid.editions(store)",
                  DeprecationWarning, stacklevel=2)
    return edition_table(store)


def edition_at(editions: pd.DataFrame, at: TimeLike | None = None) -> pd.Series:
    """Pick the edition valid at ``at`` (the current one when None) from an edition table."""
    if editions.empty:
        raise StoreError("the store holds no grid edition yet; import one with `gridlib grid import`")
    if at is None:
        cur = editions[editions["current"].astype(int) == 1]
        return (cur if len(cur) else editions).iloc[-1]
    t = iso_date(at)
    ok = (editions["valid_from"] <= t) & ((editions["valid_to"] == "") | (t < editions["valid_to"]))
    if not ok.any():
        first = editions["valid_from"].min()
        raise StoreError(f"no grid edition was valid at {t} (the first is valid from {first})")
    return editions[ok].iloc[-1]


def write_edition(store: Store, gridset: GridSet, *, imported_at: str | None = None) -> str:
    """Append *gridset* as the newest edition (call inside ``store.transaction()``).

    Examples
    --------
    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(0, 0, 300, 200)], crs="EPSG:4547")
    >>> gs = gl.GridSet.from_gdf(gl.grid.build(parents), edition={"valid_from": "2026-01-01"})
    >>> with store.transaction():
    ...     write_edition(store, gs)
    'E0001'
    >>> gl.grid.editions(store)[["edition_id", "valid_from"]].values.tolist()
    [['E0001', '2026-01-01']]
    """
    table = edition_table(store)
    e = dict(gridset.edition)
    if not e["valid_from"]:
        raise InputError("an edition needs valid_from (the effective date)")
    if not e["edition_id"]:
        e["edition_id"] = f"E{len(table) + 1:04d}"
    if e["edition_id"] in set(table["edition_id"]):
        raise InputError(f"edition {e['edition_id']} already exists in the store")
    crs = gridset.crs
    if len(table):
        if str(e["valid_from"]) <= str(table["valid_from"].max()):
            raise InputError(f"effective date {e['valid_from']} must be after the latest edition's "
                             f"({table['valid_from'].max()})")
        crs = table["crs"].iloc[0] if "crs" in table and table["crs"].iloc[0] else crs
        table.loc[table["current"].astype(int) == 1, "valid_to"] = e["valid_from"]
        table["current"] = 0
    grids = gridset.grids.to_crs(crs)
    row = {**e, "n_grids": len(grids), "imported_at": imported_at or dt.datetime.now().isoformat(timespec="seconds"),
           "current": 1, "crs": f"EPSG:{grids.crs.to_epsg()}" if grids.crs.to_epsg() else grids.crs.to_wkt()}
    table = pd.concat([table.assign(crs=table.get("crs", row["crs"])), pd.DataFrame([row])], ignore_index=True)
    table["current"] = table["current"].astype(int)
    table["n_grids"] = table["n_grids"].astype(int)
    g = grids[[c for c in GRID_COLUMNS if c in grids]].copy()
    if "placeholder" not in g:
        g["placeholder"] = False
    text = [c for c in GRID_COLUMNS if c not in ("area_m2", "placeholder")]
    for c in text:
        g[c] = g[c].astype("string").fillna("").astype(object) if c in g else ""
    g["placeholder"] = g["placeholder"].astype(bool)
    g = gpd.GeoDataFrame(g[GRID_COLUMNS], geometry=grids.geometry.values, crs=grids.crs)
    g.insert(0, "edition_id", e["edition_id"])
    store.write_layer(GRIDS_LAYER, g, mode="append")
    parts = []
    for level in LEVELS:
        p = gridset.parents[level].to_crs(crs)
        parts.append(gpd.GeoDataFrame({"edition_id": e["edition_id"], "level": level,
                                       "code": p["code"].astype(object), "name": p["name"].astype(object)},
                                      geometry=p.geometry.values, crs=p.crs))
    store.write_layer(PARENTS_LAYER, pd.concat(parts, ignore_index=True), mode="append")
    store.write_layer(EDITIONS_LAYER, table, mode="replace")
    return str(e["edition_id"])
