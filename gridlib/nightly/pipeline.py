"""The nightly responsibility-map run.

For one date it loads the grid edition valid that day and the operational
layers from a store, assigns cases, checks the day's muck-truck fixes,
computes indicators, hotspots, camera coverage and response reachability,
and writes the products (GeoPackage, PNG maps, web map, KPI tables,
manifest) atomically. See ``docs/nightly.md`` for the products.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import multiprocessing as mp
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
from pandas.api.types import union_categoricals
from pandas.arrays import ArrowStringArray

from gridlib import coverage, hotspots, network, trucks
from gridlib.assignment import assign, forget
from gridlib.cases import fifteen_minute, indicators, open_cases, read_log
from gridlib.cases.log import with_live_cases
from gridlib.errors import FreshnessError, InputError, StoreError
from gridlib.grid import GridSet
from gridlib.grid.topology import Topology
from gridlib.index import GridIndex
from gridlib.nightly._frames import no_rows
from gridlib.nightly.forks import one_fork_warning, release_free_memory
from gridlib.nightly.jobs import Job, start_job
from gridlib.nightly.model import Coverage, NightlyInputs, NightlyOptions, NightlyResults
from gridlib.nightly.outputs import (
    INDEX_CACHE,
    FrameDigest,
    atomic_products_dir,
    clean_store_temps,
    dump_json,
    edition_cache_build,
    file_digest,
    frame_digest,
    write_private,
)
from gridlib.nightly.products import write_products
from gridlib.nightly.record import RunRecord
from gridlib.nightly.schema import PUBLISHED_REJECT_COLUMNS
from gridlib.rejects import CODES, counts, publishable, with_codes
from gridlib.rejects import empty as rejects_empty
from gridlib.store.base import Store, mask_dsn
from gridlib.store.gpkg import GpkgStore
from gridlib.times import parse_times
from gridlib.trucks._ids import vehicle_codes
from gridlib.trucks.cases import taken_in_live
from gridlib.water import is_water

__all__ = ["NightlyOptions", "run_nightly", "INPUT_LAYERS", "private_rejects_path", "index_cache_path"]

log = logging.getLogger(__name__)

#: Store layers the run reads (besides the grid editions); optional ones may be absent.
INPUT_LAYERS = {
    "cases": True, "responsibility": True, "components": False, "frontage_zones": False,
    "road_sections": False, "truck_fixes": False, "truck_permits": False, "truck_sites": False,
    "cameras": False, "team_bases": False, "roads": False, "buildings": False, "water": False,
    "alerts": False,
}


def _day_bounds(date: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(date)
    return start, start + pd.Timedelta(days=1)


#: The layers the truck step reads besides the fixes: a forked run reads them first and starts the truck step with
#: them (:func:`_load`'s *early*), so it runs beside the reading of the rest (a city's: ~6 s on one core).
TRUCK_LAYERS = ("truck_permits", "truck_sites", "roads")

#: The layers camera coverage and reachability read besides the grids (and the roads, a truck layer): a forked run
#: reads them next and starts those steps before it reads the cases (:func:`_load`'s *before_cases*), so the
#: forked process shares none of the cases' pages (a page the run frees or writes after the fork stays the child's
#: alone until it ends).
COVERAGE_LAYERS = ("cameras", "buildings", "water", "team_bases")


def _load(store: Store, record: RunRecord, date: dt.date, skip: tuple[str, ...] = (),
          early: Callable[[dict[str, Any]], None] | None = None,
          before_cases: Callable[[NightlyInputs], None] | None = None) -> NightlyInputs:
    """Read the grid edition and the input layers, except those in *skip* (read by the step using them).

    With *early*, the :data:`TRUCK_LAYERS` are read first and ``early(those layers)`` is called before the rest.
    With *before_cases*, the grid edition and the :data:`COVERAGE_LAYERS` are read next and ``before_cases(the
    inputs read so far)`` is called before the rest (the case layers are empty in what it is given)."""
    layers: dict[str, Any] = {}

    def read(name: str) -> None:
        frame = store.read_layer(name)
        layers[name] = frame
        record.inputs[name] = {"rows": len(frame), "sha256": frame_digest(frame)}

    with record.step("load inputs") as st:
        available = set(store.layers())
        missing = [name for name, required in INPUT_LAYERS.items() if required and name not in available]
        if missing:
            raise InputError(f"the store {mask_dsn(store.url, store.url)} lacks the layer(s) {missing} the nightly run needs")
        if early is not None:
            for name in TRUCK_LAYERS:
                if name in available and name not in skip:
                    read(name)
            early(dict(layers))
        gridset = GridSet.from_store(store, at=pd.Timestamp(date))
        record.grid_edition = {k: (str(v) if v is not None else None) for k, v in gridset.edition.items()}
        record.inputs["grids"] = {"rows": len(gridset.grids), "sha256": frame_digest(gridset.grids)}
        if before_cases is not None:
            for name in COVERAGE_LAYERS + TRUCK_LAYERS:
                if name in available and name not in skip and name not in layers:
                    read(name)
            before_cases(NightlyInputs(gridset=gridset, cases=pd.DataFrame(), responsibility=pd.DataFrame(),
                                       **layers))
        for name in INPUT_LAYERS:
            if name in available and name not in skip and name not in layers:
                read(name)
        if "case_events" in available and "cases" in layers:  # cases taken in live by `gridlib serve`
            events = store.read_layer("case_events")
            record.inputs["case_events"] = {"rows": len(events), "sha256": frame_digest(events)}
            layers["cases"] = with_live_cases(layers["cases"], events)
        st.rows_in = sum(v["rows"] for v in record.inputs.values())
    return NightlyInputs(gridset=gridset, **layers)


#: The layout of the grid index file a run keeps (:func:`index_cache_path`): 2, with the topology.
_INDEX_LAYOUT = 2


def index_cache_path(out_dir: str | os.PathLike[str], grids: gpd.GeoDataFrame, edition: dict[str, Any],
                     grids_digest: str) -> Path:
    """Where a run keeps the :class:`~gridlib.index.GridIndex` of a grid edition between nights.

    ``OUT/.gridindex/<edition>-<key>/grids.npz``, beside the runs' folders and the edition's web-map tiles
    (``OUT/.runs``); *key* hashes the
    grids' content digest (codes, attributes, polygons: :func:`~gridlib.nightly.outputs.frame_digest`) and their
    CRS (and the file's layout), so grids that change in any way get a new file and the old one is never read (a
    file of another index format is refused by :meth:`GridIndex.load` and built again).

    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4547)
    >>> path = index_cache_path("out", g, {"edition_id": "E0001"}, frame_digest(g))
    >>> path.parent.parent.as_posix(), path.parent.name.startswith("E0001-"), path.name
    ('out/.gridindex', True, 'grids.npz')
    """
    # the layout is in the key so that files of an earlier layout (before 2: without the topology) are built again
    key = hashlib.sha256(f"{grids_digest}\n{pyproj.CRS.from_user_input(grids.crs).to_wkt()}\n{_INDEX_LAYOUT}".encode())
    name = re.sub(r"[^0-9A-Za-z_.-]", "_", str(edition.get("edition_id") or "edition"))
    return Path(out_dir) / INDEX_CACHE / f"{name}-{key.hexdigest()[:16]}" / "grids.npz"


def _grid_index(gridset: GridSet, path: Path, notes: dict[str, Any]) -> GridIndex | None:
    """The grids' index, read from *path* (:func:`index_cache_path`) when an earlier night saved it there, else
    built (as ``gl.assign`` would) and saved for the next nights. ``None`` for grids in a geographic CRS (assign
    then indexes them in the metric CRS it picks)."""
    grids = gridset.grids
    if grids.crs is None or not pyproj.CRS.from_user_input(grids.crs).is_projected:
        return None
    codes = grids["grid_code"].astype(str).to_numpy(dtype=object)
    if path.is_file():
        try:
            # mapped from the file (not copied), with the topology that assign and the hotspots use
            index = GridIndex.load(path, geoms=grids.geometry.array, mmap=True, with_topology=True)
            if np.array_equal(index.grid_codes, codes) and index.crs.equals(grids.crs):
                notes["grid_index"] = "loaded"
                return index
            log.warning("the grid index %s does not match the edition's grids: built again", path)
        except (OSError, ValueError, KeyError, EOFError, InputError) as exc:  # a damaged file: build it again
            log.warning("the grid index %s could not be read (%s): built again", path, exc)
        shutil.rmtree(path.parent, ignore_errors=True)  # so the rebuilt one takes its place
    index = GridIndex(grids)
    try:
        with edition_cache_build(path.parent.parent, path.parent.name) as tmp:
            index.save(tmp / path.name)
        notes["grid_index"] = "built and saved"
        _drop_stale_indexes(path)
    except OSError as exc:  # a read-only output folder: the next night builds it again
        log.warning("the grid index could not be saved in %s (%s)", path.parent, exc)
        notes["grid_index"] = "built"
    return index


def _drop_stale_indexes(path: Path) -> None:
    """Remove the grid indexes an earlier night saved for the same edition under another key (its grids changed,
    or the file's layout did: :func:`index_cache_path`): none is read again, and a city's is ~0.6 GB. A run
    still reading one keeps its open file (POSIX).

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()) / ".gridindex"
    >>> for key in ("E0001-old", "E0001-new", "E0002-other"):
    ...     (root / key).mkdir(parents=True)
    >>> _drop_stale_indexes(root / "E0001-new" / "grids.npz")
    >>> sorted(p.name for p in root.iterdir())
    ['E0001-new', 'E0002-other']
    """
    edition = path.parent.name.rsplit("-", 1)[0]
    for other in path.parent.parent.glob(f"{edition}-*"):
        if other != path.parent and other.is_dir() and other.name.rsplit("-", 1)[0] == edition:
            log.info("grid index of an earlier key removed: %s", other)
            shutil.rmtree(other, ignore_errors=True)


def _assign_cases(data: NightlyInputs, record: RunRecord, date: dt.date, options: NightlyOptions,
                  index_path: Path | None = None):
    _, day_end = _day_bounds(date)
    with record.step("assign cases") as st:
        index = _grid_index(data.gridset, index_path, st.notes) if index_path is not None else None
        raw = data.cases
        # an empty layer has no record to validate: it is a freshness warning (see _freshness), not a crash
        log_frame, log_rejects = read_log(raw, validate=len(raw) > 0)
        # no later step reads the raw log (a city's: ~150 MB, held through assign and every later step and fork
        # before): the log read, the assigned cases and the rejects hold what the products need, the step's counts
        # what _freshness needs
        n_raw, data.cases = len(raw), no_rows(raw)
        del raw
        later = log_frame["reported_at"] >= day_end
        log_frame = log_frame[~later]
        # cases reported after the date belong to later runs: counted apart, so the step still adds up
        st.rows_in = n_raw - int(later.sum())
        st.notes["reported_after_date"] = int(later.sum())
        st.notes["reported_on_date"] = int((log_frame["reported_at"] >= pd.Timestamp(date)).sum())
        latest = log_frame["reported_at"].max()
        st.notes["latest_reported_at"] = None if pd.isna(latest) else latest.isoformat()
        assigned, rejects = assign(
            log_frame, data.gridset, components=data.components, zones=data.frontage_zones,
            roads=data.road_sections, responsibility=data.responsibility,
            near_boundary_m=options.near_boundary_m, index=index,
        )
        rejects_all = pd.concat([_reject_rows("read cases", log_rejects), _reject_rows("assign", rejects)],
                                ignore_index=True)
        st.rows_out = len(assigned)
        st.rejected = len(rejects_all)
        st.rejected_by_reason = counts(rejects_all)
        st.notes["new_cases"] = int((assigned["reported_at"] >= pd.Timestamp(date)).sum())
    return assigned, rejects_all, index


def reason_counts(rejects: pd.DataFrame | pd.Series) -> dict[str, int]:
    """Deprecated: use :func:`gridlib.rejects.counts` (rejects counted by ``reason_code``).

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     reason_counts(pd.DataFrame({"reason_code": ["no_grid", "no_grid"], "reason": ["a", "b"]}))
    {'no_grid': 2}
    """
    warnings.warn("reason_counts is deprecated; use gridlib.rejects.counts", DeprecationWarning, stacklevel=2)
    frame = rejects if isinstance(rejects, pd.DataFrame) else pd.DataFrame({"reason": rejects})
    return counts(with_codes(frame))


def _reject_rows(step: str, rejects: pd.DataFrame, id_column: str = "case_id") -> pd.DataFrame:
    """A step's rejects as step, record id, field, code and the FULL reason (which may quote the value).

    This is the operator's private form; :func:`_published_rejects` turns it into the published one.
    """
    if rejects is None or not len(rejects):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in PUBLISHED_REJECT_COLUMNS})
    coded = with_codes(rejects)
    out = publishable(coded, id_column)
    out["reason"] = coded["reason"].astype("string").to_numpy()
    out.insert(0, "step", step)
    return out[list(PUBLISHED_REJECT_COLUMNS)]


def _published_rejects(rejects: pd.DataFrame) -> pd.DataFrame:
    """The published form: the reason is the code's meaning, never the text quoting the value."""
    meaning = rejects["reason_code"].map(lambda c: CODES.get(c, "") if isinstance(c, str) else "")
    return rejects.assign(reason=meaning.astype("string"))


def _truck_window(date: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The night a run reports on: 12:00 the day before to 12:00 on *date*."""
    start = pd.Timestamp(date) - pd.Timedelta(hours=12)
    return start, start + pd.Timedelta(days=1)


def _freshness(record: RunRecord, date: dt.date, options: NightlyOptions,
               fixes_seen: tuple[bool, pd.Timestamp | None] | None) -> list[dict[str, str]]:
    """Warnings about stale or missing inputs: no cases reported on *date*, no truck fixes in its night,
    the latest case or fix older than ``options.max_input_age_days`` (each ``{"code", "message"}``).
    *fixes_seen* is what :func:`_fixes_seen` found in the truck fixes (``None``: no truck layers)."""
    _, day_end = _day_bounds(date)
    max_age = pd.Timedelta(days=options.max_input_age_days)
    step = next(s for s in record.steps if s.name == "assign cases")
    notes = step.notes
    found: list[dict[str, str]] = []

    def warn(code: str, message: str) -> None:
        found.append({"code": code, "message": message})

    if not step.rows_in + notes["reported_after_date"]:  # the rows of the log, read before it was released
        warn("no_cases", "the store's cases layer is empty")
    elif not notes["reported_on_date"]:
        warn("no_new_cases", f"no cases reported on {date}")
    latest = notes["latest_reported_at"]
    if latest is not None and pd.Timestamp(latest) < day_end - max_age:
        warn("stale_cases", f"the latest case was reported at {latest}, more than "
                            f"{options.max_input_age_days:g} days before the end of {date}")
    if fixes_seen is not None:  # a city without the truck layers runs no truck check: nothing to warn
        start, end = _truck_window(date)
        in_night, before = fixes_seen
        if not in_night:
            warn("no_truck_fixes", f"no truck fixes in the night {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}")
        if before is not None and before < end - max_age:
            warn("stale_truck_fixes", f"the latest truck fix is from {before.isoformat()}, more than "
                                      f"{options.max_input_age_days:g} days before the end of that night")
    for w in found:
        log.warning("stale input (%s): %s", w["code"], w["message"])
    return found


def _fixes_seen(times: pd.Series, date: dt.date) -> tuple[bool, pd.Timestamp | None]:
    """For the freshness check: whether any truck fix falls in *date*'s night, and the latest fix before its end.

    >>> t = pd.Series(pd.to_datetime(["2026-11-20 23:00", "2026-11-25 01:00"]))
    >>> _fixes_seen(t, dt.date(2026, 11, 21))
    (True, Timestamp('2026-11-20 23:00:00'))
    """
    start, end = _truck_window(date)
    before = times[times < end].max() if len(times) else pd.NaT
    return bool(((times >= start) & (times < end)).any()), None if pd.isna(before) else before


def _truck_job(store: Store, data: NightlyInputs, record: RunRecord, date: dt.date, options: NightlyOptions):
    """The truck step, in a process of its own when the run forks (:func:`_start`): reads the truck fixes when
    :func:`_load` left them to it (a city's 9.5 M rows never enter the run's main process), a part at a time as the
    check reads them (:class:`_StoreNight`), records them as an input, parses their times once for the freshness
    check and runs the check.

    Returns the fixes' input record (or ``None``), what :func:`_fixes_seen` found (``None`` without fixes), the
    check's result and its rejects."""
    if data.truck_fixes is None and "truck_fixes" in store.layers():
        night = _StoreNight(store, date)
        result = _trucks(data, record, date, options, night)
        return night.fixes_input, night.seen, *result
    if data.truck_fixes is None:
        return None, None, *_trucks(data, record, date, options, None)
    fixes = _compact_fixes(data.truck_fixes)
    data.truck_fixes = None
    keep, seen = _in_night(fixes["time"], date)
    night = [fixes if keep.all() else fixes[keep], len(fixes)]
    # a city's 9.5 M fixes are released as soon as the night's are taken: no later step reads them
    del fixes, keep
    return None, seen, *_trucks(data, record, date, options, night)


def _in_night(column: pd.Series, date: dt.date) -> tuple[np.ndarray, tuple[bool, pd.Timestamp | None]]:
    """Which of the fixes' times are in *date*'s night (:func:`_truck_window`; an unreadable time is kept, so the
    check rejects it), and what :func:`_fixes_seen` finds in them.

    >>> keep, seen = _in_night(pd.Series(["2026-11-20 23:00", "x", "2026-11-25 01:00"]), dt.date(2026, 11, 21))
    >>> keep.tolist(), seen
    ([True, True, False], (True, Timestamp('2026-11-20 23:00:00')))
    """
    # Muck trucks work at night (typically 22:00-06:00): the report for DATE covers the night that ends
    # on its morning, from 12:00 the day before to 12:00 on DATE, so one shift is never split.
    start, end = _truck_window(date)
    keep = np.empty(len(column), dtype=bool)
    found = []
    # a million times at a time: never a city's 9.5 M parsed times and their temporaries at once (~150 MB)
    for lo in range(0, max(len(column), 1), 1_000_000):
        # by the readers' time parser (never raises; an unreadable time is missing)
        times = parse_times(column.iloc[lo:lo + 1_000_000], window=None)[0]
        found.append(_fixes_seen(times, date))
        keep[lo:lo + len(times)] = (((times >= start) & (times < end)) | times.isna()).to_numpy()
        del times
    latest = [before for _, before in found if before is not None]
    return keep, (any(inside for inside, _ in found), max(latest) if latest else None)


#: Rows of the store's truck fixes :class:`_StoreNight` reads at a time (about the rows of a part it gives): two of the
#: check's chunks (``chunk_fixes``), checked at once by two threads; a million held a city's truck process ~60 MB higher
_FIX_BATCH_ROWS = 500_000


class _NotInParts(Exception):
    """The store's truck fixes cannot be checked a part at a time as they are read (:meth:`_StoreNight.parts`)."""


class _StoreNight:
    """The fixes of *date*'s night in *store*'s ``truck_fixes``, read for the check: :meth:`parts` as they are
    read, or :meth:`whole`. A read sets ``fixes_input`` (the layer's rows and :func:`frame_digest`, as
    :meth:`~gridlib.store.Store.read_layer` reads it), ``seen`` (:func:`_fixes_seen` over the layer), ``rows``
    (the layer's) and ``night`` (the rows in the night).

    >>> import os, tempfile, gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
    >>> store.write_layer("truck_fixes", pd.DataFrame({"vehicle_id": ["A", "B", "B"], "lon": 121.5, "lat": 31.2,
    ...     "time": ["2026-11-20 23:00", "2026-11-25 01:00", "2026-11-21 02:00"]}))
    >>> night = _StoreNight(store, dt.date(2026, 11, 21))
    >>> [part.index.tolist() for part in night.parts()], night.rows, night.night, night.seen
    ([[0], [2]], 3, 2, (True, Timestamp('2026-11-21 02:00:00')))
    >>> night.whole().index.tolist(), night.fixes_input["rows"]
    ([0, 2], 3)
    """

    def __init__(self, store: Store, date: dt.date) -> None:
        self.store, self.date = store, date
        self.fixes_input: dict[str, Any] | None = None
        self.seen: tuple[bool, pd.Timestamp | None] | None = None
        self.rows = self.night = 0

    def whole(self) -> pd.DataFrame:
        """The night's fixes as one frame (the rows' numbers in the layer as index)."""
        fixes = _read_fixes_layer(self.store)
        # the digest of the layer as read_layer returns it: a categorical hashes as its values
        self.fixes_input = {"rows": len(fixes), "sha256": frame_digest(fixes)}
        keep, self.seen = _in_night(fixes["time"], self.date)
        self.rows, self.night = len(fixes), int(keep.sum())
        return fixes if keep.all() else fixes[keep]

    def parts(self) -> Iterator[pd.DataFrame]:
        """The night's fixes in consecutive parts of whole vehicles (what :func:`gridlib.trucks.check` reads as an
        iterator), the rows' numbers in the layer as index, at least one part: a batch of the layer is read, and its
        night's rows given, once the part before has been checked (a city's 9.5 M fixes are never held at once; the
        last vehicle of a batch waits for the next). The rows are those of :meth:`whole`, in its order.

        Raises :class:`_NotInParts` (a part may have been given) when a vehicle's fixes are not together in the
        layer, when its batches read unlike (types, columns) or with a geometry, or when the store was written
        meanwhile: :meth:`whole` reads the layer as before."""
        self.rows = self.night = 0
        digest, kind, done, carry, empty, found = None, None, set(), None, None, []
        try:
            for batch in self.store.read_layer_batches("truck_fixes", rows=_FIX_BATCH_ROWS):
                this = (type(batch), list(batch.columns), list(map(str, batch.dtypes)))
                if kind is None:
                    if type(batch) is not pd.DataFrame or len(set(batch.columns)) != len(batch.columns) \
                            or not {"vehicle_id", "time", "lon", "lat"} <= set(batch.columns):
                        raise _NotInParts(f"columns {list(batch.columns)} in a {type(batch).__name__}")
                    kind, digest = this, FrameDigest(batch.columns)
                elif this != kind:
                    raise _NotInParts(f"a batch read as {this[1:]} after {kind[1:]}")
                # what whole() hashes: ids as read_layer gives them, compacted (a number column with a missing id
                # reads as float; its categorical hashes the missing id as whole() does)
                digest.update(_compact_fixes(batch))
                batch.index = pd.RangeIndex(self.rows, self.rows + len(batch))
                self.rows += len(batch)
                keep, seen = _in_night(batch["time"], self.date)
                found.append(seen)
                part = batch if keep.all() else batch[keep]
                del batch
                empty = no_rows(part)  # a slice would hold the part's columns
                if carry is not None:
                    part = pd.concat([carry, part])
                carry = None
                codes, ids = vehicle_codes(part["vehicle_id"])
                rows = np.flatnonzero(codes >= 0)  # with a vehicle: a missing or blank id is none
                first = rows[np.r_[True, codes[rows[1:]] != codes[rows[:-1]]]] if len(rows) else rows
                runs = ids[codes[first]]
                if len(set(runs)) < len(runs) or done.intersection(runs):
                    raise _NotInParts("the fixes of a vehicle are not together")
                if len(first):  # the last vehicle waits for its fixes in the next batch
                    done.update(runs[:-1])
                    # taken, not sliced nor copied: either would hold the batch's Arrow buffers (~20 MB of text)
                    carry = part if first[-1] == 0 else part.take(np.arange(first[-1], len(part)))
                    part = part.iloc[:first[-1]]
                del codes, rows, first
                if len(part):
                    self.night += len(part)
                    yield part
                del part
                release_free_memory()  # what the check of the part freed, given back before the next batch is read
        except StoreError as exc:
            raise _NotInParts(str(exc)) from exc
        latest = [before for _, before in found if before is not None]
        self.seen = any(inside for inside, _ in found), max(latest) if latest else None
        self.fixes_input = {"rows": self.rows, "sha256": digest.hexdigest()}
        if carry is not None or not self.night:
            last = empty if carry is None else carry
            self.night += len(last)
            del carry, empty
            yield last


def _read_fixes_layer(store: Store) -> pd.DataFrame:
    """The store's ``truck_fixes`` as :meth:`~gridlib.store.Store.read_layer` reads them, but with ``vehicle_id``
    categorical (:func:`_compact_fixes`), each batch read compacted before the next (a city's: ~1.8 GB -> ~0.6 GB).

    >>> import os, tempfile, gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
    >>> store.write_layer("truck_fixes", pd.DataFrame({"vehicle_id": ["A", "B", "A"], "lon": [1.0, 2.0, 3.0]}))
    >>> _read_fixes_layer(store)["vehicle_id"].tolist()
    ['A', 'B', 'A']
    """
    try:
        parts = [_compact_fixes(part) for part in store.read_layer_batches("truck_fixes")]
    except StoreError as exc:  # the store was written meanwhile: read as one, as before
        log.warning("truck fixes read whole: %s", exc)
        return _compact_fixes(store.read_layer("truck_fixes"))
    kinds = {(tuple(p.columns), tuple(map(str, p.dtypes)), str(p["vehicle_id"].cat.categories.dtype)) for p in parts
             if "vehicle_id" in p.columns}
    if len(kinds) != 1 or len(parts[0].columns) != len(set(parts[0].columns)):
        # batches read apart differ (a batch of times with offsets, an all-empty batch...): read as one, as before
        del parts
        return _compact_fixes(store.read_layer("truck_fixes"))
    columns = list(parts[0].columns)
    if type(parts[0]) is not pd.DataFrame:  # batches with a geometry: joined as the frames they are
        ids = union_categoricals([p.pop("vehicle_id").array for p in parts])
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        del parts
        frame.insert(columns.index("vehicle_id"), "vehicle_id", ids)
        return frame
    # column by column, each column's batches freed once it is joined, and not copied into the frame: the batches
    # and the frame are never held whole at once (a city's: ~170 MB less at this peak)
    joined = {}
    for name in columns:
        pieces = [p.pop(name) for p in parts]
        joined[name] = pd.Series(union_categoricals([c.array for c in pieces])) if name == "vehicle_id" \
            else pd.concat(pieces, ignore_index=True)
        del pieces
    return pd.DataFrame(joined, copy=False)


def _compact_fixes(fixes: pd.DataFrame) -> pd.DataFrame:
    """The fixes with ``vehicle_id`` as a categorical: a city's 9.5 M ids are a few hundred distinct plates
    (~125 MB of text, ~20 MB of codes), and the check reads the codes without hashing every id again.

    >>> ids = _compact_fixes(pd.DataFrame({"vehicle_id": ["B", "A", None, "B"], "lon": 1.0}))["vehicle_id"]
    >>> ids.tolist(), ids.cat.codes.tolist()
    (['B', 'A', nan, 'B'], [0, 1, -1, 0])
    """
    ids = fixes.get("vehicle_id")
    if ids is None or isinstance(ids.dtype, pd.CategoricalDtype):
        return fixes
    if isinstance(ids.array, ArrowStringArray):  # as read from a store: encoded by arrow (pandas' astype
        # makes a Python str of every value first, ~900 MB for a city)
        text = pa.array(ids.array)
        encoded = pc.dictionary_encode(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
        del text
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        ids = pd.Categorical.from_codes(codes, categories=pd.Index(encoded.dictionary.to_pylist(), dtype=ids.dtype))
        del encoded, codes
    fixes = fixes.assign(vehicle_id=pd.Series(ids, index=fixes.index).astype("category"))
    pa.default_memory_pool().release_unused()  # the text's buffers, back to the system at once
    return fixes


def _plain_ids(rejects: pd.DataFrame) -> pd.DataFrame:
    """Rejected fixes (copies of input rows) with the vehicle ids :func:`_compact_fixes` encoded as text again.

    >>> _plain_ids(pd.DataFrame({"vehicle_id": pd.Categorical(["A", None])}))["vehicle_id"].tolist()
    ['A', nan]
    """
    ids = rejects.get("vehicle_id")
    if ids is None or not isinstance(ids.dtype, pd.CategoricalDtype):
        return rejects
    return rejects.assign(vehicle_id=ids.astype(ids.cat.categories.dtype))


def _trucks(data: NightlyInputs, record: RunRecord, date: dt.date, options: NightlyOptions,
            night: _StoreNight | list[Any] | None):
    """The truck check on the fixes of *date*'s night: read from the store (*night*), or given (a list of the
    night's fixes, handed over, and the number of fixes they were taken from)."""
    with record.step("truck compliance") as st:
        if night is None or data.truck_permits is None:
            st.notes["skipped"] = "no truck fixes or permits in the store"
            if isinstance(night, _StoreNight):  # read for the freshness check and the record of inputs
                night.whole()
            return None, _reject_rows("truck fixes", rejects_empty())
        # vehicles a quarter of a million fixes at a time (the default: a million): the same result, and a
        # city's truck process peaks ~250 MB lower with two chunks checked at once
        check = partial(trucks.check, permits=data.truck_permits, sites=data.truck_sites, roads=data.roads,
                        chunk_fixes=250_000, details=False)
        if isinstance(night, _StoreNight):
            result = None
            try:  # the night's fixes checked as they are read: never a city's 9.5 M at once (~250 MB)
                result = check(night.parts())
            except _NotInParts as exc:
                log.info("truck fixes read whole: %s", exc)
            if result is None:  # outside the handler: its traceback would hold the abandoned check's frames
                result = check(night.whole())
            in_store, rows_in = night.rows, night.night
        else:
            # the night is handed over (popped): check holds its only reference and frees it once the fixes are
            # read (a city's: ~250 MB)
            rows_in, in_store = len(night[0]), night[1]
            result = check(night.pop(0))
        start, end = _truck_window(date)
        st.notes["fixes_in_store"] = in_store
        st.rows_in = rows_in
        st.notes["window"] = f"{start.isoformat()} / {end.isoformat()}"
        result = replace(result, rejects=_plain_ids(result.rejects))
        st.rows_out = len(result.violations)
        st.rejected = len(result.rejects)
        if len(result.rejects):
            st.rejected_by_reason = counts(with_codes(result.rejects))
        st.notes["violations_by_type"] = {k: int(v) for k, v in result.violations["type"].value_counts().sort_index().items()}
        # the cleaned fixes and their per-fix arrays (a city night: 9.5 M rows) are read by no later step, nor are
        # the trips and stops (a city's 29k trip lines through every fix); check kept none of them (details=False)
        result = replace(result, fixes=None)
    return result, _reject_rows("truck fixes", result.rejects, id_column="vehicle_id")


def _truck_cases(result: trucks.CheckResult | None, data: NightlyInputs, record: RunRecord,
                 options: NightlyOptions, index: GridIndex | None = None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    with record.step("violations to cases") as st:
        if result is None or not len(result.violations):
            return None, None
        violations = result.violations
        live = taken_in_live(violations, data.alerts)  # the live service filed these already (case_events)
        if live.any():
            st.notes["taken_in_live"] = int(live.sum())
            violations = violations[~live]
            if not len(violations):
                return None, None
        cases = trucks.violations_to_cases(violations, county=options.county)
        st.rows_in = len(cases)
        # assigned like every other case of the log (and like the live service's case of the same alert)
        assigned, rejects = assign(cases, data.gridset, components=data.components, zones=data.frontage_zones,
                                   roads=data.road_sections, responsibility=data.responsibility,
                                   near_boundary_m=options.near_boundary_m, index=index)
        st.rows_out, st.rejected = len(assigned), len(rejects)
    return assigned, rejects


def _indicators(cases: pd.DataFrame, record: RunRecord, date: dt.date) -> dict[str, pd.DataFrame]:
    day_start, day_end = _day_bounds(date)
    month_start = day_start.replace(day=1)
    tables: dict[str, pd.DataFrame] = {}
    # the indicators' default moment is the latest time in the log; a night without cases has none
    at = None if cases["reported_at"].notna().any() else day_end
    with record.step("indicators") as st:
        st.rows_in = len(cases)
        for level in ("street_code", "community_code", "grid_code", "responsible_unit"):
            name = level.removesuffix("_code")
            tables[f"kpi_{name}_day"] = indicators(cases, by=level, period=(day_start, day_end), at=at)
            tables[f"kpi_{name}_month_to_date"] = indicators(cases, by=level, period=(month_start, day_end), at=at)
        open_now = open_cases(cases, at=day_end)
        tables["open_cases"] = open_now
        fifteen = fifteen_minute(cases[(cases["reported_at"] >= month_start) & (cases["reported_at"] < day_end)])
        tables["fifteen_minute_summary"] = fifteen.summary if hasattr(fifteen, "summary") else fifteen[1]
        st.rows_out = sum(len(t) for t in tables.values())
        st.notes["open_cases"] = len(open_now)
    return tables


def _hotspots(cases: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, water: gpd.GeoDataFrame | None,
              record: RunRecord, date: dt.date, options: NightlyOptions,
              weights: hotspots.Weights | None = None, fork: bool = False, jobs: list[Job] | None = None) -> gpd.GeoDataFrame:
    """Gi* hot spots and the emerging hot-spot categories of the grids; *weights*: the grids' queen contiguity
    (:func:`_grid_contiguity`), or ``None`` for the hot-spot functions to work it out."""
    _, day_end = _day_bounds(date)
    with record.step("hotspots") as st:
        start = day_end - pd.Timedelta(days=options.hotspot_days)
        # the grids with the columns the hotspots product keeps (each step below copies or takes its frame)
        zones = grids[[c for c in ("grid_code", "street_code") if c in grids.columns] + [grids.geometry.name]]
        counts = hotspots.counts(cases, zones, by="grid_code", period=(start, day_end))
        st.rows_in = int(counts["count"].sum())
        # grids mostly under water take no part (gl.water: the rule every analysis shares); gistar finds the
        # same ones with the same rule; the land grids' weights are a sub-matrix of the grids' contiguity
        wet = is_water(counts, water, options.max_water_share)
        land = "queen" if weights is None else weights.sparse[~wet][:, ~wet] if wet.any() else weights

        def emerging_categories(_: RunRecord) -> pd.DataFrame:
            found = hotspots.emerging(cases, zones[~wet], time_column="reported_at", bin="7D",
                                      n_bins=options.emerging_weeks, end=day_end, weights=land)
            return pd.DataFrame(found[["grid_code", "category"]])

        # forked, the emerging hot-spot analysis (a city: ~4.5 CPU-s) runs beside gistar on the other core
        emerging = _start(emerging_categories, record, "emerging hot spots", fork, jobs if jobs is not None else [])
        hot = hotspots.gistar(counts, "count", permutations=options.permutations, seed=options.seed,
                              weights=weights if weights is not None and water is None else "queen",
                              water=water, max_water_share=options.max_water_share)
        hot = hot.merge(emerging().rename(columns={"category": "emerging_category"}), on="grid_code", how="left")
        hot = gpd.GeoDataFrame(hot, geometry="geometry", crs=grids.crs).sort_values("grid_code", ignore_index=True)
        st.rows_out = len(hot)
        st.notes["water_grids_excluded"] = int(wet.sum())
        st.notes["classes"] = {k: int(v) for k, v in hot["hotspot_class"].value_counts().sort_index().items()}
    return hot


def _grid_contiguity(grids: gpd.GeoDataFrame, segments: Topology | None, record: RunRecord
                     ) -> hotspots.Weights | None:
    """The grids' queen contiguity for the hot spots, once, from the boundary segments of the grid index
    (gistar and emerging each worked it out again: 2 x 2.9 s for a city); ``None`` without an index (grids in a
    geographic CRS: the hot-spot functions work it out)."""
    with record.step("grid contiguity") as st:
        if segments is None:
            st.notes["skipped"] = "no grid index: the hot-spot functions work the contiguity out"
            return None
        weights = hotspots.contiguity(grids, "queen", topology=segments)
        st.rows_in = st.rows_out = len(grids)
        st.notes["neighbour_pairs"] = int(weights.sparse.nnz) // 2
        st.notes["islands"] = len(weights.islands)
    return weights


def _coverage(data: NightlyInputs, grids: gpd.GeoDataFrame, record: RunRecord, options: NightlyOptions) -> Coverage:
    """Camera coverage and response reachability: they read no case, so a forked run computes them beside the
    case steps; the blind spots come back unranked (:func:`_rank_blind_spots` ranks them by the night's cases)."""
    out = Coverage()
    # the grids with the columns the products read from the coverage and reachability frames: both add their
    # columns to a copy of the grids they are given, and a city's 736k grids' other columns (7 of text) made each
    # frame ~90 MB larger, pickled here and kept in the run's process through the products step
    cells = grids[[c for c in ("grid_code", "street_code") if c in grids.columns] + [grids.geometry.name]]
    with record.step("camera coverage") as st:
        if data.cameras is None or data.roads is None:
            st.notes["skipped"] = "no cameras or roads in the store"
        else:
            cameras, cam_rejects = coverage.validate_cameras(data.cameras)
            st.rows_in, st.rejected = len(data.cameras), len(cam_rejects)
            buildings = data.buildings
            views = coverage.viewsheds(cameras, buildings)
            out.viewsheds = views.merge(pd.DataFrame(cameras.drop(columns=cameras.geometry.name)),
                                           on="camera_id", how="left")
            pieces = coverage.road_coverage(views, data.roads)
            # the products publish the grids' road coverage only: the open-area shares (footprints and viewsheds
            # clipped to every grid and united, half the step's CPU for a city) are left out
            out.grid_coverage = coverage.grid_coverage(views, data.roads, cells, buildings, pieces=pieces,
                                                       water=data.water, open_area=False)
            out.blind_spots = coverage.blind_spots(pieces)
            st.notes["road_km"] = round(float(pieces["length_m"].sum()) / 1000, 3)
            st.notes["covered_road_km"] = round(float(pieces.loc[pieces["covered"], "length_m"].sum()) / 1000, 3)
            st.rows_out = len(out.viewsheds)
    with record.step("response reachability") as st:
        if data.team_bases is None or data.roads is None:
            st.notes["skipped"] = "no team bases or roads in the store"
        else:
            graph = network.build_graph(data.roads)
            out.reachability = network.reachability(graph, data.team_bases, cells, minutes=options.reach_minutes)
            st.rows_in, st.rows_out = len(data.team_bases), len(out.reachability)
    return out


def _coverage_job(data: NightlyInputs, record: RunRecord, options: NightlyOptions, fork: bool,
                  jobs: list[Job], after: Job | None = None) -> Callable[[], tuple[Coverage, dict[str, tuple]]]:
    """:func:`_coverage` started (:func:`_start`), its result made ready for the trip back (:func:`_grid_geometry_off`)."""
    grids = data.gridset.grids
    return _start(lambda rec: _grid_geometry_off(_coverage(data, grids, rec, options), grids), record,
                  "camera coverage", fork, jobs, after)


def _same_objects(a: Any, b: Any) -> bool:
    """Whether two geometry arrays hold the very same objects, position by position (no comparison of shapes)."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    return len(a) == len(b) and bool((np.fromiter(map(id, a), np.int64, len(a))
                                      == np.fromiter(map(id, b), np.int64, len(b))).all())


def _grid_geometry_off(cover: Coverage, grids: gpd.GeoDataFrame) -> tuple[Coverage, dict[str, tuple]]:
    """Coverage for the trip back from its forked process: the grid coverage and reachability carry the grids'
    own polygons (a city's 756k, seconds to pickle and again to unpickle); a frame holding exactly the grids'
    geometry objects in the grids' order goes back without them (:func:`_grid_geometry_on` restores them)."""
    off: dict[str, tuple] = {}
    for name in ("grid_coverage", "reachability"):
        frame = getattr(cover, name)
        if (isinstance(frame, gpd.GeoDataFrame) and frame.crs == grids.crs
                and _same_objects(frame.geometry.values, grids.geometry.values)):
            geom = frame.geometry.name
            off[name] = (geom, list(frame.columns), frame.crs)
            setattr(cover, name, pd.DataFrame(frame.drop(columns=geom)))
    return cover, off


def _grid_geometry_on(cover: Coverage, off: dict[str, tuple], grids: gpd.GeoDataFrame) -> Coverage:
    for name, (geom, columns, crs) in off.items():
        frame = getattr(cover, name).assign(**{geom: grids.geometry.values})
        setattr(cover, name, gpd.GeoDataFrame(frame[columns], geometry=geom, crs=crs))
    return cover


def _rank_blind_spots(cover: Coverage, cases: gpd.GeoDataFrame) -> Coverage:
    if cover.blind_spots is not None:
        cover.blind_spots = coverage.priority_blind_spots(cover.blind_spots, case_density=cases)
    return cover


def _forks(store: Store) -> bool:
    """Whether the run computes its independent parts in forked processes: on a GeoPackage store (one file, read
    by any process; a PostGIS store's connection cannot be shared by a fork) where the platform forks and two
    CPUs are free for it (``GRIDLIB_NIGHTLY_PROCESSES=0`` turns it off, as for the PNG maps)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = os.environ.get("GRIDLIB_NIGHTLY_PROCESSES")
    why = ("the store is not a GeoPackage" if not isinstance(store, GpkgStore)
           else "this platform cannot fork" if "fork" not in mp.get_all_start_methods()
           else "a daemonic process may not have children" if mp.current_process().daemon
           else "GRIDLIB_NIGHTLY_PROCESSES=0" if wanted is not None and int(wanted) <= 0
           else "one CPU" if wanted is None and cpus < 2 else None)
    if why is not None:
        log.info("nightly run computes every step in this process, none forked: %s", why)
    return why is None


def _start(fn: Callable[[RunRecord], Any], record: RunRecord, label: str, fork: bool,
           jobs: list[Job], after: Job | None = None) -> Callable[[], Any]:
    """Start ``fn(record)`` in a forked process when *fork* (its work begins once *after*'s process has ended);
    return what gives its result (and adds the steps it recorded to *record*, in the order results are taken).
    Without a fork, when another thread lives (:func:`~gridlib.nightly.forks.fork_safe`) or when no process can
    start, ``fn`` runs in this process when its result is asked for: the same steps in the same order, the same
    products."""
    job = start_job(fn, record, label, after) if fork else None
    if job is not None:
        jobs.append(job)
        return job.result
    return lambda: fn(record)


def private_rejects_path(out_dir: str | os.PathLike[str], date: dt.date | str) -> Path:
    """Where a run keeps the full rejects, with the offending values, for the operator: never published.

    ``OUT/.private/<date>/rejects.csv`` — beside the products, not inside ``OUT/<date>``; mode 0600
    in 0700 folders. It may hold personal data (see docs/nightly.md).

    >>> private_rejects_path("products", "2026-11-21").as_posix()
    'products/.private/2026-11-21/rejects.csv'
    """
    return Path(out_dir) / ".private" / pd.Timestamp(date).date().isoformat() / "rejects.csv"


def run_nightly(
    store: Store,
    date: dt.date | str,
    out_dir: str | os.PathLike[str],
    *,
    options: NightlyOptions | None = None,
    write_to_store: bool | None = None,
) -> dict[str, Any]:
    """Run the nightly responsibility-map pipeline for *date*; return the manifest.

    Parameters
    ----------
    store : Store
        A GeoPackage or PostGIS store holding grid editions and the input layers
        (see :data:`INPUT_LAYERS`; ``gridlib demo-data --store`` builds one).
    date : date or str
        The day to report on (cases reported up to its end, that day's truck fixes).
    out_dir : path
        Products go to ``out_dir/<date>/`` (switched in atomically when complete). The full rejects,
        with the values they quote, go to the unpublished :func:`private_rejects_path` (mode 0600).
        What killed runs left here (and beside a GeoPackage store) is removed first, and logged.
    options : NightlyOptions, optional
    write_to_store : bool, optional
        Also write the result layers to the store in one transaction (default: only for PostGIS).

    Returns
    -------
    dict
        The manifest (also written as ``manifest.json``).

    Examples
    --------
    >>> import os, tempfile
    >>> import gridlib as gl
    >>> from gridlib.nightly import NightlyOptions, load_demo_store, run_nightly
    >>> work = tempfile.mkdtemp()
    >>> _ = gl.demo.generate(os.path.join(work, "demo"), seed=1, n_cases=100, n_trucks=9, n_extra_cameras=0)
    >>> store = gl.store.open(os.path.join(work, "store.gpkg"))
    >>> _ = load_demo_store(store, os.path.join(work, "demo"))
    >>> m = run_nightly(store, "2026-11-20", os.path.join(work, "out"), options=NightlyOptions(permutations=99))
    >>> [s["name"] for s in m["steps"]][:3], m["grid_edition"]["edition_id"]
    (['load inputs', 'assign cases', 'truck compliance'], 'E0001')
    >>> sorted(os.listdir(os.path.join(work, "out", "2026-11-20")))
    ['index.html', 'kpi', 'manifest.json', 'maps', 'responsibility_map.gpkg', 'webmap.html']
    """
    with one_fork_warning():  # another thread alive: one warning for the run, not one per part not forked
        return _run(store, date, out_dir, options, write_to_store)


def _run(store: Store, date: dt.date | str, out_dir: str | os.PathLike[str], options: NightlyOptions | None,
         write_to_store: bool | None) -> dict[str, Any]:
    """:func:`run_nightly`'s run."""
    options = options or NightlyOptions()
    date = pd.Timestamp(date).date()
    record = RunRecord(date=date.isoformat(), parameters=asdict(options), store=mask_dsn(store.url, store.url))
    record.started_at = pd.Timestamp.now().isoformat(timespec="seconds")
    clean_store_temps(store)  # copies a killed writer left beside a GeoPackage store
    fork = _forks(store)
    jobs: list[Job] = []
    try:
        # forked, the truck step reads the fixes itself and runs beside the case steps, camera coverage and
        # reachability (which read no case) beside them too; each result is taken where the step used to run
        if fork:  # each starts as soon as its layers are read, beside the reading of the others
            started: list[Callable[[], Any]] = []
            truck_process: list[Job] = []
            coverage_process: list[Job] = []

            def start_trucks(layers: dict[str, Any]) -> None:
                # the truck step reads only these (and the fixes): no grid edition, no case
                part = NightlyInputs(gridset=cast(GridSet, None), cases=pd.DataFrame(),
                                     responsibility=pd.DataFrame(), **layers)
                forked = len(jobs)
                started.append(_start(lambda rec: _truck_job(store, part, rec, date, options), record,
                                      "truck compliance", fork, jobs))
                truck_process.extend(jobs[forked:])  # none when it could not fork

            def start_coverage(part: NightlyInputs) -> None:
                # forked now (sharing no case), it works once the truck process has ended: the two together
                # beside assign were the night's peak (a city's: 3.4 GB); the run asks for coverage much later
                forked = len(jobs)
                started.append(_coverage_job(part, record, options, fork, jobs,
                                             after=truck_process[0] if truck_process else None))
                coverage_process.extend(jobs[forked:])

            data = _load(store, record, date, skip=("truck_fixes",), early=start_trucks, before_cases=start_coverage)
            truck_job, cover_job = started
        else:
            coverage_process = []
            data = _load(store, record, date)
            truck_job = _start(lambda rec: _truck_job(store, data, rec, date, options), record, "truck compliance",
                               fork, jobs)
            cover_job = _coverage_job(data, record, options, fork, jobs)
        grids = data.gridset.grids
        index_path = index_cache_path(out_dir, grids, data.gridset.edition, record.inputs["grids"]["sha256"])
        assigned, rejects, index = _assign_cases(data, record, date, options, index_path)
        fixes_input, fixes_seen, truck_result, truck_rejects = truck_job()
        if fixes_input is not None:
            record.inputs["truck_fixes"] = fixes_input
            next(s for s in record.steps if s.name == "load inputs").rows_in += fixes_input["rows"]
        record.warnings = _freshness(record, date, options, fixes_seen)
        if options.strict and record.warnings:
            raise FreshnessError(
                f"{len(record.warnings)} freshness warning(s) and strict is on; nothing published, the previous "
                "products stay: " + "; ".join(w["message"] for w in record.warnings), record.warnings)
        truck_cases, truck_case_rejects = _truck_cases(truck_result, data, record, options, index)
        # no later step assigns: the index (its raster, codes and what assign cached on its topology: a city's
        # ~0.5 GB) and what assign keeps for the grids are freed now, before the contiguity is worked out and the
        # indicator and hot-spot processes fork (a child keeps every page it was forked with until it ends); the
        # contiguity reads only the boundary segments, kept apart from the index (the same arrays, no cache)
        segments = None if index is None else replace(index.topology)
        index = None
        forget(data.gridset)
        weights = _grid_contiguity(grids, segments, record)
        del segments
        cases = assigned if truck_cases is None else pd.concat([assigned, truck_cases], ignore_index=True)
        cases = gpd.GeoDataFrame(cases, geometry="geometry", crs=assigned.crs)
        del assigned  # with the truck cases, a copy of it is in cases
        all_rejects = [rejects, truck_rejects]
        if truck_case_rejects is not None and len(truck_case_rejects):
            all_rejects.append(_reject_rows("assign truck violations", truck_case_rejects))
        # forked, the indicators are computed beside the hotspots; their step keeps its place in the manifest
        at = len(record.steps)
        # forked now, the indicators work once the coverage process has ended: gistar (here), the emerging hot
        # spots, the indicators and coverage all at once were the night's peak (a city's: 2.84 GB)
        indicators_job = _start(lambda rec: _indicators(cases, rec, date), record, "indicators", fork, jobs,
                                after=coverage_process[0] if coverage_process else None)
        hot = _hotspots(cases, grids, data.water, record, date, options, weights, fork, jobs)
        del weights
        taken = len(record.steps)
        tables = indicators_job()
        moved = record.steps[taken:]
        del record.steps[taken:]
        record.steps[at:at] = moved
        cover = _rank_blind_spots(_grid_geometry_on(*cover_job(), grids), cases)
    finally:
        for job in jobs:
            job.cancel()
    # released before the products step (the night's memory peak): no product reads the cameras or the buildings
    # (their viewsheds and coverage are kept); the raw case log went once it was read (_assign_cases)
    data.cameras, data.buildings = None, None
    full_rejects = pd.concat(all_rejects, ignore_index=True)
    results = NightlyResults(inputs=data, cases=cases, rejects=_published_rejects(full_rejects),
                             truck_result=truck_result, tables=tables, hotspots=hot, coverage=cover,
                             options=options, warnings=list(record.warnings),
                             grids_digest=record.inputs["grids"]["sha256"])
    # results holds the only references (the indicators' lambda shares this name: cleared, not deleted): the
    # products step releases what its layers copy before it forks
    cases = hot = cover = None
    with atomic_products_dir(out_dir, date.isoformat()) as work:
        with record.step("products") as st:
            layers = write_products(work, results, date=date, options=options, record=record)
            st.rows_out = len(layers)
            if write_to_store if write_to_store is not None else not str(store.url).lower().endswith(".gpkg"):
                with store.transaction():
                    for name, frame in layers.items():
                        store.write_layer(f"nightly_{name}", frame, mode="replace")
                st.notes["store_layers"] = sorted(f"nightly_{name}" for name in layers)
        for path in sorted(work.rglob("*")):
            if path.is_file():
                record.outputs[str(path.relative_to(work))] = {"bytes": path.stat().st_size,
                                                               "sha256": file_digest(path)}
        record.finished_at = pd.Timestamp.now().isoformat(timespec="seconds")
        dump_json(record.manifest(), work / "manifest.json")
    private = write_private(full_rejects.sort_values(["step", "record_id", "reason_code"], kind="stable"),
                            private_rejects_path(out_dir, date))
    log.info("full rejects with their values (personal data, not published): %d in %s", len(full_rejects), private)
    log.info("nightly run for %s done: %s", date, Path(out_dir) / date.isoformat())
    return record.manifest()
