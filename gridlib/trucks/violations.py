"""The truck check: clean → stops and trips → permits and route → violations → credit.

Every step works on whole columns (see :mod:`gridlib.trucks.fixes`); Python loops run
only over permits, zones, threshold passes or the (few) violations found.

Thresholds are named fields of :class:`~gridlib.trucks.thresholds.Thresholds`; each violation
type has its own detector in :mod:`gridlib.trucks.detectors`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from gridlib import rejects as rejects_model
from gridlib.crs import WGS84
from gridlib.errors import InputError
from gridlib.progress import track
from gridlib.trucks._ids import factorize_sorted
from gridlib.trucks.clean import clean
from gridlib.trucks.credit import Credit, credit
from gridlib.trucks.detectors import DETECTORS, CheckContext, vehicle_day
from gridlib.trucks.fixes import Fixes, read_fixes
from gridlib.trucks.route import permits_metric_crs, read_permits, read_sites
from gridlib.trucks.thresholds import Thresholds
from gridlib.types import CRSLike, LayerSource, TableSource, TimeLike

__all__ = ["check", "CheckResult", "Thresholds", "THRESHOLDS", "VIOLATION_COLUMNS"]

log = logging.getLogger(__name__)

#: The default thresholds by name (read-only view of :class:`Thresholds`; kept for callers of 0.x).
THRESHOLDS: dict[str, float] = Thresholds().as_dict()

VIOLATION_COLUMNS = [
    "violation_id", "vehicle_id", "permit_id", "company", "type", "start", "end", "duration_s",
    "n_fixes", "max_distance_m", "off_route_m", "roads", "site_id", "zone_id", "detail", "evidence", "geometry",
]



@dataclass
class CheckResult:
    """What :func:`check` found.

    Attributes
    ----------
    violations : geopandas.GeoDataFrame
        One row per violation (WGS84), columns :data:`VIOLATION_COLUMNS`; ``evidence`` holds the
        input row numbers of the fixes behind it (comma-separated).
    trips, stops : geopandas.GeoDataFrame
        See :func:`gridlib.trucks.trips.detect`; stops also carry ``permit_id`` and ``approved``.
    rejects : pandas.DataFrame
        Input fix rows not used (original index kept; for a :class:`Fixes` input its rows, indexed
        by ``row``), with ``reason_code``, ``field`` and ``reason`` (one shape for every input);
        ``len(fixes used) + len(rejects) == len(input)``.
    permit_rejects, site_rejects : pandas.DataFrame
    credit : Credit
        Points per vehicle and per company.
    fixes : Fixes
        The cleaned fixes; ``per_fix`` holds per-fix arrays (``permit``, ``in_hours``,
        ``route_distance_m``, ``stationary``) for maps and drill-down.
    permits, sites : geopandas.GeoDataFrame
        The accepted permits and sites (WGS84).

    Examples
    --------
    >>> import pandas as pd, geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> from gridlib.trucks import check
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
    ...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    >>> fixes = pd.DataFrame({"vehicle_id": "V1",
    ...     "time": pd.date_range("2026-11-20 21:50", periods=60, freq="20s").astype(str),
    ...     "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": 31.24})
    >>> r = check(fixes, permits)
    >>> r.violations["type"].tolist(), len(r.trips), len(r.rejects), len(r.fixes)
    (['outside_hours'], 1, 0, 60)
    >>> r.credit.vehicles[["vehicle_id", "points"]].values.tolist()
    [['V1', 2]]
    """

    violations: gpd.GeoDataFrame
    trips: gpd.GeoDataFrame
    stops: gpd.GeoDataFrame
    rejects: pd.DataFrame
    credit: Credit
    fixes: Fixes
    permits: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame | None
    permit_rejects: pd.DataFrame
    site_rejects: pd.DataFrame
    per_fix: dict[str, np.ndarray] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of violations per type (every type listed, zeros included)."""
        from gridlib.trucks.credit import VIOLATION_TYPES

        vc = self.violations["type"].value_counts()
        return {t: int(vc.get(t, 0)) for t in VIOLATION_TYPES}


def check(
    fixes: TableSource | Fixes | Iterator[pd.DataFrame],
    permits: LayerSource,
    sites: LayerSource | None = None,
    *,
    roads: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    date: TimeLike | None = None,
    crs: CRSLike = "EPSG:4326",
    deductions: pd.DataFrame | str | None = None,
    chunk_fixes: int = 1_000_000,
    workers: int | None = None,
    thresholds: Thresholds | None = None,
    details: bool = True,
    **legacy_thresholds: float,
) -> CheckResult:
    """Check a fleet's GPS fixes against permits, sites, zones and speed limits.

    Distances are measured in the metric CRS of the permits' routes
    (:func:`gridlib.trucks.route.permits_metric_crs`; the fixes' own for a :class:`Fixes` input), the CRS
    the live monitor measures in.

    Parameters
    ----------
    fixes : path, DataFrame, Fixes or iterator of DataFrames
        ``vehicle_id``, ``time``, ``lon``/``lat`` (or point geometry), optional ``speed`` (km/h).
        Naive times are local China time (UTC+8); tz-aware times are converted. An iterator gives one table in
        consecutive parts (at least one), each holding whole vehicles (a vehicle's fixes in two parts raise
        :class:`~gridlib.errors.InputError`): the result is the joined table's, rows numbered across the parts and
        rejects indexed by each part's index. With ``details=False`` and parts with the ``vehicle_id``, ``time``,
        ``lon`` and ``lat`` columns, a part is read, cleaned and checked before the next is taken, and never held
        with the others; otherwise the parts are joined first.
    permits, sites : path or GeoDataFrame
        See :func:`gridlib.trucks.route.read_permits` and :func:`~gridlib.trucks.route.read_sites`.
    roads : GeoDataFrame, optional
        Road lines; ``name`` (or ``name:zh``) labels the roads a deviation used, and
        ``speed_limit_kmh`` (or ``maxspeed``) enables the speeding check.
    zones : GeoDataFrame, optional
        Restricted-zone polygons (``zone_id``).
    date : date-like, optional
        Check only this local day; other fixes go to rejects (``not on the checked date``).
    crs : optional
        CRS of the fixes' coordinates (``"gcj02"`` is converted).
    deductions : DataFrame or path, optional
        Credit deduction table (default: the bundled one).
    chunk_fixes : int
        Work on whole vehicles, about this many fixes at a time (memory; same result).
    workers : int, optional
        Threads working on chunks at once (default: the number of CPUs); same result.
    thresholds : Thresholds, optional
        Named thresholds (default: :class:`~gridlib.trucks.thresholds.Thresholds()`). Passing them
        as keywords (``check(..., min_length_m=100)``) still works but is deprecated.
    details : bool
        False: the result's trips, stops and cleaned fixes are empty (columns kept) and ``per_fix`` is ``{}``;
        violations, rejects and credit are the same (a city night's check holds ~0.5 GB less). A table of more than
        ``4 * chunk_fixes`` fixes (with permits) is then read, cleaned and checked a group of whole vehicles of about
        that many fixes at a time: the cleaned fixes of all vehicles are never held at once (a city night's: 0.5 GB);
        the empty fixes' ``reordered`` then sums the groups' counts (rows out of order within each group).

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> import pandas as pd, geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
    ...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    >>> fixes = pd.DataFrame({"vehicle_id": "V1",
    ...     "time": pd.date_range("2026-11-20 21:50", periods=60, freq="20s").astype(str),
    ...     "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": 31.24})
    >>> r = check(fixes, permits)
    >>> r.violations[["type", "start", "end"]].astype(str).values.tolist()
    [['outside_hours', '2026-11-20 21:50:00', '2026-11-20 21:59:40']]
    >>> lean = check(fixes, permits, details=False)
    >>> lean.violations.equals(r.violations), len(lean.trips), len(lean.fixes), lean.per_fix
    (True, 0, 0, {})
    >>> check(iter([fixes.iloc[:0], fixes]), permits, details=False).violations.equals(r.violations)
    True
    >>> check(iter([fixes.iloc[:30], fixes.iloc[30:]]), permits, details=False)
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: fixes: a vehicle's fixes are in two parts: ['V1']
    """
    th = thresholds or Thresholds()
    if legacy_thresholds:
        warnings.warn("check(..., name=value) thresholds are deprecated; pass thresholds=Thresholds(name=value)",
                      DeprecationWarning, stacklevel=2)
        th = th.replace(**legacy_thresholds)

    if isinstance(fixes, Fixes):
        # the "original rows" of a Fixes input are its own rows, indexed by their input row
        fx = fixes
        frame = fixes.to_frame().set_index("row", drop=False)
        frame.index.name = None
        rejects = rejects_model.empty(frame.columns)
    elif isinstance(fixes, pd.DataFrame):
        # only read from (rejects are copies of rows): not copied whole, which held a second copy of a city's
        # 9.5 M fixes (~370 MB) through the check; copy-on-write keeps the caller's frame as it was
        frame = fixes.copy(deep=False)
    elif isinstance(fixes, Iterator):  # consecutive parts: the first here, the others where they are checked
        frame = next(fixes, None)
        if frame is None:
            raise InputError("fixes: the iterator gave no part")
    else:
        from gridlib.io import open_table

        frame = open_table(fixes)
    permits_ok, permit_rejects = read_permits(permits)
    if sites is not None:
        sites_ok, site_rejects = read_sites(sites)
    else:
        sites_ok, site_rejects = None, rejects_model.empty(["site_id"])
    by_label = isinstance(fixes, Fixes)
    found_rejects: tuple[list[pd.DataFrame], ...] = ([], [], [])  # read, outside the date, cleaned out

    def cleaned(fx: Fixes, source: pd.DataFrame) -> Fixes:
        """The fixes on *date*, cleaned; their rejects (rows of *source*, which ``fx.row`` number) go to
        *found_rejects*."""
        if date is not None:
            day = np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64)
            on = (fx.t // 86400) == day
            if not on.all():
                k = int((~on).sum())
                found_rejects[1].append(_reject_rows(source, by_label, fx.row[~on], np.full(k, "outside_time_window"),
                                                     np.full(k, "time"), np.full(k, "not on the checked date")))
                fx = fx.take(on)
        fx, cleaned_out = clean(fx, max_speed_kmh=th.max_speed_kmh, min_jump_m=th.min_jump_m)
        if len(cleaned_out):
            found_rejects[2].append(_reject_rows(source, by_label, *(cleaned_out[c].to_numpy() for c in
                                                                     ("row", "reason_code", "field", "reason"))))
        return fx

    metric = None if by_label else permits_metric_crs(permits_ok)
    group = 4 * chunk_fixes
    # without details, vehicles are read, cleaned and checked a group at a time: the cleaned fixes of every vehicle
    # (a city night's: ~0.5 GB) never exist at once. The fixes' metric CRS must not depend on the fixes read
    lean = not details and metric is not None
    if isinstance(fixes, Iterator) and not (lean and _groupable(frame)):  # parts checked as one table
        frame = fixes = pd.concat([frame, *fixes])
    if isinstance(fixes, Iterator):
        groups = _groups([frame], fixes, group)
        del frame, fixes  # each part is freed once its groups are checked
    else:
        items = _vehicle_groups(frame, group) if lean else None
        groups = None if items is None else _groups([frame], iter(()), group, items)
    grouped = groups is not None
    if groups is None:
        if not by_label:  # measured where the routes are, as the live monitor measures
            # without details no fixes are returned: they may share the frame's coordinates while the check runs
            fx, rejects = read_fixes(frame, crs=crs, metric=metric, copy=details)
        found_rejects[0].append(rejects)
        fx = cleaned(fx, frame)
        rejects = _gathered(found_rejects)
        # the input is not read again: a frame handed over with no other reference (a caller's 9.5 M fixes) is
        # freed here, before the per-fix arrays and the chunks' work are allocated
        del frame, fixes
        groups = iter([fx])
    metric = fx.crs if metric is None else metric
    ctx = CheckContext.prepare(permits_ok, sites_ok, metric, roads=roads, zones=zones, thresholds=th)

    n = 0
    vehicle_ids, reordered = [], 0
    per_fix = {"permit": np.full(len(fx), -1, dtype=np.int64), "in_hours": np.zeros(len(fx), dtype=bool),
               "route_distance_m": np.full(len(fx), np.nan), "stationary": np.zeros(len(fx), dtype=bool)} \
        if details else {}
    parts, trip_parts, stop_parts = [], [], []
    n_threads = max(1, workers or os.cpu_count() or 1)
    # one chunk runs in the calling thread: a new thread pays ~0.1 s to set up its PROJ context
    with ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else nullcontext() as pool:
        for item in groups:
            if isinstance(item, Fixes):
                fx = item
            else:
                source, rows = item
                fx, part_rejects = read_fixes(source, crs=crs, metric=metric, copy=False)
                found_rejects[0].append(part_rejects)
                fx = cleaned(fx, source)
                # positions in the whole table
                fx = replace(fx, row=rows[fx.row] if isinstance(rows, np.ndarray) else fx.row + rows)
                del part_rejects, source, rows
                if vehicle_ids and np.isin(fx.vehicle_ids, np.concatenate(vehicle_ids)).any():
                    raise InputError("fixes: a vehicle's fixes are in two parts: "
                                     f"{np.intersect1d(fx.vehicle_ids, np.concatenate(vehicle_ids))[:5].tolist()}")
            del item  # not held while the next group is read
            n += len(fx)
            vehicle_ids.append(fx.vehicle_ids)
            reordered += fx.reordered
            # whole vehicles per chunk: every step is per vehicle, and chunk-sized temporaries keep
            # memory (and the kernel's page-fault time) low
            starts = np.flatnonzero(fx.vehicle_starts())
            cuts = starts[np.minimum(np.searchsorted(starts, np.arange(chunk_fixes, len(fx), chunk_fixes)),
                                     len(starts) - 1)]
            bounds = np.unique(np.r_[0, cuts, len(fx)]) if len(fx) else np.array([0, 0])
            spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
            # chunks are independent and numpy/shapely release the GIL: threads overlap them on several
            # cores; results are collected in chunk order, so the output does not depend on workers
            use = pool if pool is not None and len(spans) > 1 else None
            done = (use.map if use else map)(lambda span, fx=fx: _check_part(fx.take(slice(*span)), ctx, details),
                                             spans)
            results = zip(spans, track(done, "trucks check (vehicle chunks)", total=len(spans)), strict=True)
            for (lo, hi), (found, trips_c, stops_c, arrays) in results:
                parts += found
                # without details, only the columns (a city's trip lines through every fix: ~340 MB); copied, as a
                # slice of a frame holds its whole arrays
                trip_parts.append(trips_c if details else trips_c.iloc[:0].copy())
                stop_parts.append(stops_c if details else stops_c.iloc[:0].copy())
                for key, arr in arrays.items() if details else ():
                    per_fix[key][lo:hi] = arr
            del done, results  # they hold the group's fixes
            if not details:
                fx = fx.take(np.zeros(0, dtype=np.int64))
    if grouped:
        rejects = _gathered(found_rejects)
        fx = replace(fx, vehicle_ids=np.concatenate(vehicle_ids), reordered=reordered)
    trips = _stack(trip_parts, "trip_id")
    stops = _stack(stop_parts, "stop_id")

    parts = [p for p in parts if len(p)]
    if parts:
        viol = pd.concat(parts, ignore_index=True)
    else:
        viol = pd.DataFrame({c: pd.Series(dtype=object) for c in VIOLATION_COLUMNS})
    for col in VIOLATION_COLUMNS:
        if col not in viol.columns:
            viol[col] = None
    viol = viol.sort_values(["start", "vehicle_id", "type"], kind="stable").reset_index(drop=True)
    viol["violation_id"] = (viol["vehicle_id"].astype(str) + "-" + viol["type"].astype(str) + "-"
                            + pd.to_datetime(viol["start"]).dt.strftime("%Y%m%dT%H%M%S"))
    for col in ("max_distance_m", "off_route_m"):
        viol[col] = pd.to_numeric(viol[col], errors="coerce").astype("float64")
    for col in ("permit_id", "company", "roads", "site_id", "zone_id", "detail"):
        viol[col] = viol[col].astype(object).where(viol[col].notna(), None)  # one missing value, not None/NaN
    viol = gpd.GeoDataFrame(viol[VIOLATION_COLUMNS], geometry="geometry", crs=WGS84)
    cr = credit(viol, deductions)
    log.info("trucks check: %d fixes, %d rejects, %d violations", n, len(rejects), len(viol))
    return CheckResult(
        violations=viol, trips=trips, stops=stops, rejects=rejects, credit=cr,
        fixes=fx, permits=permits_ok, sites=sites_ok, permit_rejects=permit_rejects, site_rejects=site_rejects,
        per_fix=per_fix,
    )


def _reject_rows(frame: pd.DataFrame, by_label: bool, rows: np.ndarray, codes: np.ndarray, fields: np.ndarray,
                 reasons: np.ndarray) -> pd.DataFrame:
    """Copies of the input rows *rows* (labels when *by_label*, else positions) with their reject columns."""
    out = frame.loc[rows].copy() if by_label else frame.iloc[rows].copy()
    out["reason_code"] = pd.array(codes, dtype="string")
    out["field"] = pd.array(fields, dtype="string")
    out["reason"] = pd.array(reasons, dtype="string")
    return out


def _stack(frames: list[gpd.GeoDataFrame], id_col: str) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True)
    out[id_col] = np.arange(len(out))
    return gpd.GeoDataFrame(out.drop(columns=["_first"], errors="ignore"), geometry="geometry", crs=WGS84)


def _check_part(fx: Fixes, ctx: CheckContext, trips: bool = True) -> tuple[list[pd.DataFrame], gpd.GeoDataFrame,
                                                                         gpd.GeoDataFrame, dict[str, np.ndarray]]:
    """Stops, trips (their lines only with *trips*: no detector reads them), permits and route compliance of whole
    vehicles' fixes, then every detector."""
    day = vehicle_day(fx, ctx, trips=trips)
    parts = [detector(day, ctx.thresholds) for detector in DETECTORS.values()]
    arrays = {"permit": day.permit_of, "in_hours": day.in_hours, "route_distance_m": day.route_distance_m,
              "stationary": day.movement.stationary}
    return parts, day.movement.trips, day.stops, arrays


def _gathered(found: tuple[list[pd.DataFrame], ...]) -> pd.DataFrame:
    """The rejects of every kind (read, outside the date, cleaned out; each a list, one per group of vehicles)
    in input order, as one table; only the first of empty tables is kept, so the columns' types are the input's."""
    kinds = [pd.concat(frames) if len(frames) > 1 else frames[0] for frames in
             ([f for f in found[0] if len(f)] or found[0][:1], *(k for k in found[1:] if k))]
    rejects = pd.concat(kinds) if len(kinds) > 1 else kinds[0]
    return rejects.sort_index(kind="stable") if len(rejects) else rejects


def _groupable(frame: pd.DataFrame) -> bool:
    """Whether *frame* may be read in groups of its rows: the columns :func:`~gridlib.trucks.fixes.read_fixes`
    reads with no renaming first, and no rows kept apart from it."""
    return not frame.attrs.get("invalid_rows") and {"vehicle_id", "time", "lon", "lat"} <= set(frame.columns)


def _groups(first: list[pd.DataFrame], parts: Iterator[pd.DataFrame], size: int,
            items: list[slice | np.ndarray] | None = None) -> Iterator[tuple[pd.DataFrame, int | np.ndarray]]:
    """Groups of whole vehicles of about *size* fixes (:func:`_vehicle_groups`) of each consecutive part of a table
    (the first taken from the list *first*, then *parts*; the first's groups: *items* when given), each as its rows
    and their positions in the table (the first's, or all). A part is held only while its groups are read."""
    offset, part = 0, first.pop()
    while part is not None:
        for item in items or _vehicle_groups(part, size) or [slice(0, len(part))]:
            yield part.iloc[item], offset + (item.start if isinstance(item, slice) else item)
        offset += len(part)
        items = part = None  # not held while the next part is read
        part = next(parts, None)


def _vehicle_groups(frame: pd.DataFrame, size: int) -> list[slice | np.ndarray] | None:
    """Rows of *frame* by groups of whole vehicles of about *size* fixes (slices where the frame is in vehicle
    order), the rows without a vehicle in the first; None when the frame is read as one (no more than *size*
    rows, or not :func:`_groupable`).

    >>> f = pd.DataFrame({"vehicle_id": ["B", "A", "A", None, "C"], "time": 0, "lon": 0.0, "lat": 0.0})
    >>> [g.tolist() for g in _vehicle_groups(f, 2)]
    [[1, 2, 3], [0], [4]]
    >>> _vehicle_groups(f.sort_values("vehicle_id").iloc[:4], 2)
    [slice(0, 2, None), slice(2, 4, None)]
    """
    if len(frame) <= size or not _groupable(frame):
        return None
    ids = frame["vehicle_id"]
    if isinstance(ids.dtype, pd.CategoricalDtype):  # 32-bit codes (a city night's 9.5 M: 38 MB, not 76)
        of_category = factorize_sorted(pd.Series(ids.cat.categories))[0]
        codes = np.r_[of_category, -1].astype(np.int32)[ids.cat.codes.to_numpy()]
    else:
        codes = factorize_sorted(ids)[0]
    counts = np.bincount(codes + 1)  # the missing first
    first = np.cumsum(counts) - counts  # of each vehicle, in vehicle order
    group = np.r_[first[1:], first[0]] // size  # by code; code -1 (missing), the last
    group = group.astype(np.int32)[codes]
    del codes
    if (group[1:] >= group[:-1]).all():
        cuts = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1, len(group)].tolist()
        return [slice(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
    return [np.flatnonzero(group == g) for g in np.unique(group)]
