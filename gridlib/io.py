"""Reading and writing files, with input normalisation and rejects.

Readers never drop a record silently: they return ``(accepted, rejects)`` where
``rejects`` holds the original rows (original index kept) plus a ``reason``,
and ``len(accepted) + len(rejects) == len(input)``. Declared offset systems
(``crs="gcj02"`` or ``"bd09"``) are converted to WGS84 explicitly.

Writers are atomic: they write a temporary file next to the target and
rename it into place, so a crash never leaves a half-written file.

>>> import pandas as pd
>>> df = pd.DataFrame({"id": ["a", "b", "c"], "lon": [121.50, None, 200.0], "lat": [31.24, 31.24, 31.2]})
>>> ok, bad = read_points(df, id="id")
>>> len(ok), bad["reason"].tolist()
(1, ['missing coordinate', 'coordinate out of range (lon=200, lat=31.2)'])
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from gridlib.crs import WGS84, resolve_crs, to_wgs84, transformer
from gridlib.errors import CRSError, InputError
from gridlib.rejects import CODES, Rejects, counts, looks_personal
from gridlib.times import parse_times, reject_times
from gridlib.types import CRSLike, GeoFrame

__all__ = [
    "read_points",
    "read_points_xy",
    "read_layer",
    "open_table",
    "open_layer",
    "which_layer",
    "invalid_row_rejects",
    "write_gpkg",
    "write_geojson",
    "write_parquet",
    "write_csv",
    "write_any",
    "atomic_path",
    "check_coordinates",
    "check_crs_plausible",
    "check_layer_crs",
    "COLUMN_ALIASES",
    "map_columns",
    "parse_columns",
    "load_table",
    "with_names",
    "REJECT_REASONS",
]

log = logging.getLogger(__name__)

#: Deprecated: the reject codes are :data:`gridlib.rejects.CODES` (this is their tuple, for old callers).
REJECT_REASONS = tuple(CODES)

_TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".parquet", ".pq", ".xlsx", ".xlsm"}

#: Headers of Chinese (and common English) exports → gridlib column name: the one alias table of every
#: reader (docs/conventions.md "Column aliases"). A reader renames a column by this table only to a name
#: it reads and the input lacks; an explicit ``columns={"源列": "gridlib_name"}`` mapping wins.
#: Headers are matched without surrounding spaces, case-insensitively.
COLUMN_ALIASES: dict[str, str] = {
    # location (WGS84 or the declared crs=)
    "经度": "lon", "longitude": "lon", "lng": "lon", "gps经度": "lon",
    "纬度": "lat", "latitude": "lat", "gps纬度": "lat",
    # case log
    "案件编号": "case_id", "案件号": "case_id", "案卷编号": "case_id", "任务号": "case_id",
    "事部件编码": "class_code", "小类编码": "class_code", "案件小类编码": "class_code",
    "类别": "kind", "案件类别": "kind", "事部件类型": "kind",
    "上报时间": "reported_at", "核实时间": "verified_at", "立案时间": "filed_at", "派遣时间": "dispatched_at",
    "到场时间": "arrived_at", "处置时间": "disposed_at", "处置完成时间": "disposed_at", "反馈时间": "feedback_at",
    "核查时间": "checked_at", "结案时间": "closed_at", "作废时间": "cancelled_at", "不立案时间": "not_filed_at",
    "问题来源": "source", "案件来源": "source", "紧急程度": "urgency",
    "返工次数": "rework_count", "回退次数": "return_count", "延期小时数": "extension_hours", "是否挂账": "parked",
    "部件编号": "component_id", "部件标识码": "component_id", "问题描述": "description", "案件描述": "description",
    "上报人": "reporter_name", "上报人电话": "reporter_phone", "联系电话": "reporter_phone",
    # event log (one row per stage)
    "环节": "stage", "处理环节": "stage", "操作时间": "time",
    # GPS fixes
    "车牌号": "vehicle_id", "车牌号码": "vehicle_id", "车辆编号": "vehicle_id", "定位时间": "time",
    "gps时间": "time", "速度": "speed",
    # transport permits
    "准运证号": "permit_id", "核准证号": "permit_id", "许可证号": "permit_id", "运输单位": "company",
    "运输公司": "company", "有效期起": "valid_from", "有效期止": "valid_to", "运输时段": "hours",
    "通行时段": "hours", "出土点": "origin_site", "消纳场": "destination_site",
    # territory
    "街道代码": "street_code", "街道编码": "street_code", "街道名称": "street_name",
    "社区代码": "community_code", "社区编码": "community_code", "社区名称": "community_name",
    "网格编码": "grid_code", "网格代码": "grid_code",
}
_ALIAS_KEYS = {k.casefold(): v for k, v in COLUMN_ALIASES.items()}


def map_columns(frame: pd.DataFrame, columns: dict[str, str] | None = None, *,
                wanted: Iterable[str] = (), what: str = "the input") -> pd.DataFrame:
    """Rename columns to gridlib names: the explicit *columns* mapping first, then :data:`COLUMN_ALIASES`.

    An alias renames a column only to a name in *wanted* that the frame lacks (after the
    explicit mapping), so a column already named ``lon`` — or mapped to it — is the one
    used. Two columns for one name are one :class:`InputError` naming both. The frame is
    returned as it is when nothing is renamed.

    >>> df = pd.DataFrame({"案件编号": ["A1"], "经度": [121.5], "纬度": [31.2], "X": [1.0]})
    >>> list(map_columns(df, wanted=["case_id", "lon", "lat"]).columns)
    ['case_id', 'lon', 'lat', 'X']
    >>> list(map_columns(df, {"X": "lon"}, wanted=["lon", "lat"]).columns)
    ['案件编号', '经度', 'lat', 'lon']
    """
    present = [str(c) for c in frame.columns]
    rename: dict[str, str] = {}
    for src, dst in (columns or {}).items():
        if src not in present:
            raise InputError(f"{what}: the column mapping names {src!r}, which is not a column; columns are {present}")
        rename[src] = dst
    names = [rename.get(c, c) for c in present]
    targets = set(names)
    for name in dict.fromkeys(w for w in wanted if w):
        if name in targets:
            continue
        hits = [c for c in present if c not in rename and _ALIAS_KEYS.get(c.strip().casefold()) == name]
        if len(hits) > 1:
            _ambiguous(what, name, hits)
        if hits:
            rename[hits[0]] = name
            targets.add(name)
    names = [rename.get(c, c) for c in present]
    for name in set(names):
        if names.count(name) > 1:
            _ambiguous(what, name, [c for c, n in zip(present, names, strict=True) if n == name])
    if not rename:
        return frame
    out = frame.rename(columns=rename)
    out.attrs = dict(frame.attrs)
    log.info("%s: columns %s", what, ", ".join(f"{k!r} -> {v!r}" for k, v in rename.items()))
    return out


def parse_columns(text: str | None, *, x: str | None = None, y: str | None = None) -> dict[str, str]:
    """A CLI ``--columns`` text (``"源列=name,源列2=name2"``) plus ``--x``/``--y`` as a column mapping.

    >>> parse_columns("编号=case_id", x="GPS_X", y="GPS_Y")
    {'编号': 'case_id', 'GPS_X': 'lon', 'GPS_Y': 'lat'}
    """
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        src, sep, dst = part.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise InputError(f"--columns: {part.strip()!r} is not SOURCE=NAME (e.g. 经度=lon,纬度=lat)")
        mapping[src.strip()] = dst.strip()
    for src, dst in ((x, "lon"), (y, "lat")):
        if src:
            mapping[src] = dst
    return mapping


def _ambiguous(what: str, name: str, sources: list[str]) -> None:
    both = " and ".join(repr(s) for s in sources)
    raise InputError(f"{what}: {both} would both be column {name!r}; say which with columns={{...: {name!r}}} "
                     "(--columns) or rename one")


def load_table(source: str | os.PathLike[str] | pd.DataFrame, *, columns: dict[str, str] | None = None,
               wanted: Iterable[str] = (), sheet: str | int | None = None, header_row: int = 1,
               encoding: str | None = None, copy: bool = True) -> pd.DataFrame:
    """:func:`open_table` then :func:`map_columns`: how every reader opens its input.

    With ``copy=False`` a DataFrame given is only read from (not copied unless renamed).

    >>> load_table(pd.DataFrame({"车牌号": ["沪A1"]}), wanted=["vehicle_id"]).columns.tolist()
    ['vehicle_id']
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy(deep=False) if copy else source  # copy-on-write (pandas 3): columns copied when written
        what = "the input"
    else:
        frame = open_table(source, encoding=encoding, sheet=sheet, header_row=header_row)
        what = str(source)
    return map_columns(frame, columns, wanted=wanted, what=what)


def with_names(frame: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    """Put the name beside each code: ``street_name`` after ``street_code``, ``community_name`` after ``community_code``.

    *names* is any table with the code and name columns (the grids). Names already there
    are kept; codes with no name stay empty.

    >>> names = pd.DataFrame({"street_code": ["310115005"], "street_name": ["陆家嘴街道"]})
    >>> with_names(pd.DataFrame({"street_code": ["310115005"], "n": [3]}), names).columns.tolist()
    ['street_code', 'street_name', 'n']
    """
    if names is None:
        return frame
    out = frame.copy()
    for level in ("district", "street", "community"):
        code, name = f"{level}_code", f"{level}_name"
        if code not in out.columns or name in out.columns or code not in names or name not in names:
            continue
        lookup = pd.DataFrame(names)[[code, name]].dropna().drop_duplicates(code).astype({code: str})
        values = out[code].astype("string").map(dict(zip(lookup[code], lookup[name], strict=True)))
        out.insert(out.columns.get_loc(code) + 1, name, values)
    return out


# ---------------------------------------------------------------- reading


_MAGIC = ((b"SQLite format 3\x00", "a GeoPackage/SQLite database"), (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
          (b"%PDF", "a PDF document"), (b"PAR1", "a Parquet file"), (b"\x89PNG", "a PNG image"))


def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    """Text of a CSV: *encoding* if given, else UTF-8 (with or without BOM), else GB18030 (GBK)."""
    for enc in ([encoding] if encoding else ["utf-8-sig", "gb18030"]):
        try:
            return data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    raise InputError(f"{path}: cannot decode the text as {encoding or 'UTF-8 or GB18030'}; pass encoding=")


def _check_header(path: Path, header: list[str]) -> list[str]:
    dups = sorted({h for h in header if header.count(h) > 1})
    if dups:
        raise InputError(f"{path}: duplicate column name(s) {dups}; rename them so each column has one name")
    return header


def _cell_text(value: Any) -> str | None:
    """An Excel cell as the text a CSV would hold (numbers without a spurious ``.0``, ISO times)."""
    import datetime as dt

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_xlsx(path: Path, sheet: str | int | None, header_row: int) -> pd.DataFrame:
    """One sheet of a workbook as strings, the header in row *header_row* (1-based); empty rows skipped."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException for broken files
        raise InputError(f"{path}: cannot read as an Excel workbook ({exc})") from exc
    try:
        names = book.sheetnames
        if sheet is None:
            sheet = names[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise InputError(f"{path}: no sheet number {sheet}; sheets are {names} (numbered from 0)")
            sheet = names[sheet]
        elif sheet not in names:
            raise InputError(f"{path}: no sheet {sheet!r}; sheets are {names}")
        rows = [tuple(map(_cell_text, row)) for row in book[sheet].iter_rows(min_row=header_row, values_only=True)]
    finally:
        book.close()
    rows = [r for r in rows if any(v is not None and v.strip() != "" for v in r)]
    if not rows:
        raise InputError(f"{path}: sheet {sheet!r} has no header in row {header_row}; give header_row=")
    width = max(len(r) for r in rows)
    rows = [r + (None,) * (width - len(r)) for r in rows]
    header = [(h or "").strip() for h in rows[0]]
    body = rows[1:]
    keep = [j for j in range(width) if header[j] or any(r[j] is not None for r in body)]
    header = _check_header(path, [header[j] or get_column_letter(j + 1) for j in keep])
    frame = pd.DataFrame({h: pd.Series([r[j] for r in body], dtype="str") for h, j in zip(header, keep, strict=True)})
    frame.attrs["invalid_rows"] = []
    return frame


def _read_csv(path: Path, sep: str, encoding: str | None, header_row: int = 1) -> pd.DataFrame:
    """A CSV as strings; rows with too few or too many fields are kept apart in ``attrs["invalid_rows"]``."""
    import csv
    import io as _io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = path.read_bytes()
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputError(f"{path}: this looks like {what}, not a CSV")
    if not data.strip():
        raise InputError(f"{path}: the file is empty (0 bytes or only blank lines); nothing to read")
    text = _decode(path, data, encoding).replace("\x00", "")
    if header_row > 1:  # title lines above the header
        text = text.split("\n", header_row - 1)[-1] if text.count("\n") >= header_row - 1 else ""
        if not text.strip():
            raise InputError(f"{path}: no header in line {header_row}; give header_row=")
    header = next(csv.reader(_io.StringIO(text.split("\n", 1)[0]), delimiter=sep))
    header = _check_header(path, [h.strip() for h in header])
    invalid: list[tuple[int, int, int, str]] = []

    def handler(row: Any) -> str:
        invalid.append((int(row.number or 0), row.expected_columns, row.actual_columns, row.text))
        return "skip"

    body = text.split("\n", 1)[1] if "\n" in text else ""
    if not body.strip():  # header only: no records, no rejects
        frame = pd.DataFrame({h: pd.Series(dtype="str") for h in header})
        frame.attrs["invalid_rows"] = []
        return frame
    table = pacsv.read_csv(
        _io.BytesIO(body.encode("utf-8")),
        read_options=pacsv.ReadOptions(column_names=header, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=handler, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                             strings_can_be_null=True, null_values=[""]),
    )
    frame = table.to_pandas()
    frame.attrs["invalid_rows"] = [(line + header_row, exp, act, txt) for line, exp, act, txt in invalid]
    return frame


def invalid_row_rejects(frame: pd.DataFrame) -> pd.DataFrame:
    """Rejects (``truncated_row``/``extra_fields``) for the CSV rows :func:`open_table` kept apart.

    Their index continues after the frame's; ``raw_line`` holds the row as it was in the file.

    >>> invalid_row_rejects(pd.DataFrame({"a": ["1"]})).empty
    True
    """
    rows = frame.attrs.get("invalid_rows") or []
    if not rows:
        return pd.DataFrame(columns=[*frame.columns, "raw_line", "reason_code", "field", "reason"])
    start = len(frame)
    out = pd.DataFrame({c: pd.Series([None] * len(rows), dtype=object) for c in frame.columns},
                       index=pd.RangeIndex(start, start + len(rows)))
    out["raw_line"] = [t for _, _, _, t in rows]
    out["reason_code"] = pd.array(["truncated_row" if act < exp else "extra_fields" for _, exp, act, _ in rows],
                                  dtype="string")
    out["field"] = pd.array([None] * len(rows), dtype="string")
    out["reason"] = pd.array([f"line {line}: {act} fields, the header has {exp}" for line, exp, act, _ in rows],
                             dtype="string")
    return out


def open_table(source: str | os.PathLike[str] | pd.DataFrame, *, encoding: str | None = None,
               sheet: str | int | None = None, header_row: int = 1, **kwargs: Any) -> pd.DataFrame:
    """Read a file into a (Geo)DataFrame by its suffix, as it is (nothing rejected); a DataFrame is returned as a copy.

    The ``open_*`` functions read as they are; the ``read_*`` readers also check and return
    ``(accepted, rejects)``.

    CSV columns are read as strings so codes keep their leading zeros and nothing
    is guessed; :func:`read_points` parses coordinates and times itself. CSV text is
    UTF-8 (with or without BOM) or GB18030/GBK, detected, or *encoding*; NUL bytes are
    stripped; a binary file named .csv, an empty file and duplicate column names are one
    clear :class:`InputError`; rows with fewer or more fields than the header are kept
    apart for the readers to reject (:func:`invalid_row_rejects`).

    Excel workbooks (``.xlsx``/``.xlsm``, read with openpyxl) give one *sheet* (a name or a
    0-based number; the first by default) with the header in row *header_row* (1-based, so
    title rows above it are skipped; CSV takes it too); cells come as text like a CSV's —
    numbers stored as text stay as written, times as ISO text — and empty rows are skipped.

    >>> open_table(pd.DataFrame({"a": [1]}))["a"].tolist()
    [1]
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if header_row < 1:
        raise InputError(f"header_row must be 1 or more (the first row is 1), got {header_row}")
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet, header_row)
    if suffix == ".xls":
        raise InputError(f"{path}: old .xls workbooks are not read; save it as .xlsx (or CSV UTF-8) in Excel")
    if suffix in (".csv", ".txt", ".tsv"):
        sep = "\t" if suffix == ".tsv" else ","
        if kwargs:
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], **kwargs)
        return _read_csv(path, sep, encoding, header_row)
    if suffix in (".parquet", ".pq"):
        try:
            return gpd.read_parquet(path, **kwargs)
        except (ValueError, KeyError):
            return pd.read_parquet(path, **kwargs)
    if "layer" not in kwargs:
        path, kwargs["layer"] = which_layer(path)
    try:
        return gpd.read_file(path, engine="pyogrio", **kwargs)
    except Exception as exc:  # pyogrio raises its own error types per driver
        raise InputError(f"{path}: cannot read as a GIS layer ({exc})") from exc


def read_table(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """Deprecated name of :func:`open_table` (``read_*`` readers return ``(accepted, rejects)``; this one rejects nothing).

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     read_table(pd.DataFrame({"a": [1]}))["a"].tolist()
    [1]
    """
    warnings.warn("gl.io.read_table is deprecated; use gl.io.open_table (same arguments)",
                  DeprecationWarning, stacklevel=2)
    return open_table(*args, **kwargs)


def _check_ids(frame: pd.DataFrame, id: str, rejects: Rejects) -> None:
    """Reject rows whose id is missing or repeats an earlier row's (the first occurrence is kept)."""
    if id not in frame.columns:
        raise InputError(f"id column {id!r} not found; columns are {list(frame.columns)}")
    ids = frame[id]
    sure = None  # text ids: rows that certainly have text, the length of that text in bytes
    if ids.dtype == object or pd.api.types.is_string_dtype(ids):
        ids = ids.astype("string")
        sure = _text_bytes(ids)
        if sure is None or sure[2]:
            if ids.str.contains("\x00", regex=False).any():
                ids = ids.str.replace("\x00", "", regex=False)
                sure = None
        frame[id] = ids
        if sure is None:
            blank = ids.str.strip().fillna("").eq("").to_numpy()
        else:  # only a row that does not start with a visible ASCII character can be blank
            blank = np.zeros(len(ids), dtype=bool)
            maybe = np.flatnonzero(~sure[0])
            blank[maybe] = ids.iloc[maybe].str.strip().fillna("").eq("").to_numpy()
    else:
        blank = ids.isna().to_numpy()
    rejects.add(blank, "missing_id", "missing id", field=id)
    if sure is None:
        personal = looks_personal(ids)
    else:  # a phone number has at least 11 characters, an ID-card number 18: shorter ids need no pattern
        personal = np.zeros(len(ids), dtype=bool)
        maybe = np.flatnonzero(sure[1] >= 11)
        if len(maybe):
            personal[maybe] = looks_personal(ids.iloc[maybe])
    if personal.any():  # the text only for the rows it names
        text = np.full(len(personal), None, dtype=object)
        text[personal] = ("id looks like a phone or ID-card number: '" + ids[personal].astype(str) + "'").to_numpy(
            dtype=object)
        rejects.add(personal, "personal_data_id", text, field=id)
    dup = _repeated(ids) & ~blank
    if dup.any():  # the text only for the rows it names
        text = np.full(len(dup), None, dtype=object)
        text[dup] = ("duplicate id " + ids[dup].astype(str)).to_numpy(dtype=object)
        rejects.add(dup, "duplicate_id", text, field=id)


def _point_xy(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``shapely.get_x``, ``shapely.get_y`` of points (None: NaN) in one pass over the geometries."""
    coords, at = shapely.get_coordinates(points, return_index=True)
    if not (at[1:] > at[:-1]).all():  # not one coordinate per point: the two calls
        return shapely.get_x(points), shapely.get_y(points)
    xs, ys = np.full(len(points), np.nan), np.full(len(points), np.nan)
    xs[at], ys[at] = coords[:, 0], coords[:, 1]
    return xs, ys


def _text_bytes(text: pd.Series) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """For an Arrow-backed text column: per row, whether it starts with a visible ASCII character (so is not
    blank), its length in UTF-8 bytes (0 where missing), and whether any text may hold a NUL character.
    None for other storage. Read from the Arrow buffers, without a Python string per row."""
    try:
        arr = pa.array(text.array)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type not in (pa.string(), pa.large_string()):
        return None
    _, offsets, data = arr.buffers()
    n = len(arr)
    wide = np.int64 if arr.type == pa.large_string() else np.int32
    off = np.frombuffer(offsets, dtype=wide, count=n + 1, offset=arr.offset * np.dtype(wide).itemsize)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    length = np.diff(off).astype(np.int64)
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    length[~valid] = 0
    used = raw[off[0]:off[-1]]
    first = np.zeros(n, dtype=np.uint8)
    has = length > 0
    first[has] = raw[off[:-1][has]]
    visible = valid & (first > 0x20) & (first < 0x7F)
    return visible, length, bool((used == 0).any())


def _has_z_or_m(geoms: np.ndarray) -> bool:
    """Whether any geometry has a Z or an M dimension (one pass when all are 2D, as usual)."""
    if (shapely.get_coordinate_dimension(geoms) == 2).all():
        return False
    return bool(shapely.has_z(geoms).any() or shapely.has_m(geoms).any())


def _repeated(ids: pd.Series) -> np.ndarray:
    """``ids.duplicated(keep="first")`` (missing values aside); text by a stable sort, which is about twice
    as fast as hashing 300,000 distinct strings."""
    if not pd.api.types.is_string_dtype(ids) or ids.dtype == object:
        return ids.duplicated(keep="first").to_numpy()
    arr = pa.array(ids.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if _surely_distinct(arr):
        return np.zeros(len(ids), dtype=bool)
    order = pc.sort_indices(arr).to_numpy()  # stable: in a run of equal ids the first row comes first
    ordered = arr.take(order)
    same = pc.fill_null(pc.equal(ordered[1:], ordered[:-1]), False).to_numpy(zero_copy_only=False)
    out = np.zeros(len(ids), dtype=bool)
    out[order[1:][same]] = True
    return out


def _surely_distinct(arr: pa.Array) -> bool:
    """Whether the valid texts of an Arrow text array are certainly all distinct (False: perhaps not), from their
    UTF-8 bytes: texts of at most 16 bytes, each read as one or two 64-bit words (bytes past its end zeroed),
    mixed into one 64-bit key; distinct keys are distinct texts. Sorting the keys takes a third of the time
    of sorting the texts (299k ids: ~4 against 12 ms), and ids are usually all distinct.

    >>> _surely_distinct(pa.array(["c1", "c2", None, None])), _surely_distinct(pa.array(["c1", "c2", "c1"]))
    (True, False)
    """
    if arr.type not in (pa.string(), pa.large_string()) or len(arr) < 2:
        return False
    _, offsets, data = arr.buffers()
    wide = np.int64 if arr.type == pa.large_string() else np.int32
    off = np.frombuffer(offsets, dtype=wide, count=len(arr) + 1, offset=arr.offset * np.dtype(wide).itemsize)
    start, length = off[:-1].astype(np.int64), np.diff(off).astype(np.int64)
    if arr.null_count:
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        start, length = start[valid], length[valid]
    if not len(length) or int(length.max()) > 16:
        return False
    raw = np.zeros(int(off[-1]) + 16, dtype=np.uint8)   # room for a 16-byte read at every start
    if data is not None:
        raw[:int(off[-1])] = np.frombuffer(data, dtype=np.uint8, count=int(off[-1]))
    # the 8 bytes from every byte position, as one little-endian word (an unaligned view, no copy)
    at = np.ndarray(shape=(len(raw) - 7,), dtype="<u8", buffer=raw.data, offset=0, strides=(1,))
    key = at[start]
    key &= _LOW_BYTES[np.minimum(length, 8)]   # bytes past the text's end zeroed
    if int(length.max()) > 8:
        second = at[start + 8]
        second &= _LOW_BYTES[np.clip(length - 8, 0, 8)]
        key *= np.uint64(0x9E3779B97F4A7C15)
        key ^= second + (key >> np.uint64(29))
    key.sort()
    return not bool((key[1:] == key[:-1]).any())


#: ``_LOW_BYTES[k]``: a 64-bit mask of the k low bytes (k = 0..8).
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


#: Longitude/latitude box of China (with a margin): projected coordinates all inside it are lon/lat.
_CHINA_LONLAT = (70.0, 3.0, 140.0, 56.0)


def check_crs_plausible(xs: np.ndarray, ys: np.ndarray, crs: pyproj.CRS, *, what: str = "the input") -> None:
    """Refuse coordinates that are implausible for the declared CRS as a whole (one clear error).

    Metres declared as degrees (every finite pair outside ±180/±90, at least three of them), or
    Chinese longitude/latitude declared as a projected CRS (every pair inside the lon/lat box of China).

    >>> import numpy as np
    >>> check_crs_plausible(np.array([121.4, 121.5]), np.array([31.2, 31.3]), pyproj.CRS(4550))
    Traceback (most recent call last):
    ...
    gridlib.errors.CRSError: the input: coordinates look like longitude/latitude but the file says EPSG:4550 — declare the right CRS with --crs (crs=)
    """
    finite = np.isfinite(xs) & np.isfinite(ys)
    if not finite.any():
        return
    fx, fy = xs[finite], ys[finite]
    name = crs.to_string()
    if crs.is_geographic:
        outside = (np.abs(fx) > 180) | (np.abs(fy) > 90)
        if len(fx) >= 3 and outside.all() and np.median(np.abs(np.r_[fx, fy])) > 1000:
            raise CRSError(f"{what}: coordinates look like metres but the file says {name} — "
                           "declare the right CRS with --crs (crs=)")
    else:
        x0, y0, x1, y1 = _CHINA_LONLAT
        if ((fx >= x0) & (fx <= x1) & (fy >= y0) & (fy <= y1)).all():
            raise CRSError(f"{what}: coordinates look like longitude/latitude but the file says {name} — "
                           "declare the right CRS with --crs (crs=)")


def check_layer_crs(frame: gpd.GeoDataFrame, what: str = "the layer") -> None:
    """:func:`check_crs_plausible` on every vertex of a layer: one :class:`CRSError` for the whole layer.

    >>> g = gpd.GeoDataFrame(geometry=[shapely.box(121.4, 31.2, 121.5, 31.3)], crs=4550)
    >>> check_layer_crs(g, "grids.gpkg")
    Traceback (most recent call last):
    ...
    gridlib.errors.CRSError: grids.gpkg: coordinates look like longitude/latitude but the file says EPSG:4550 — declare the right CRS with --crs (crs=)
    """
    if frame.crs is None or not len(frame):
        return
    coords = shapely.get_coordinates(frame.geometry.values)
    if len(coords):
        check_crs_plausible(coords[:, 0], coords[:, 1], pyproj.CRS.from_user_input(frame.crs), what=what)


def check_coordinates(xs: np.ndarray, ys: np.ndarray, crs: CRSLike, rejects: Rejects, *,
                      field: str | None = None) -> None:
    """The one coordinate check of every reader: finite, in range for the CRS, and after projection too.

    Adds ``non_numeric_coordinate``, ``swapped_lon_lat`` and ``coordinate_out_of_range`` to *rejects*
    (records already rejected keep their first reason).

    >>> r = Rejects(pd.RangeIndex(4))
    >>> check_coordinates(np.array([121.5, np.inf, 31.2, 1e308]), np.array([31.2, 31.2, 121.5, 1e308]),
    ...                   "EPSG:4326", r)
    >>> r.codes.tolist()
    [None, 'non_numeric_coordinate', 'swapped_lon_lat', 'coordinate_out_of_range']
    """
    crs = pyproj.CRS.from_user_input(crs)
    xs = np.asarray(xs, dtype="float64")
    ys = np.asarray(ys, dtype="float64")
    finite = np.isfinite(xs) & np.isfinite(ys)
    rejects.add(~finite, "non_numeric_coordinate", "coordinate is not a finite number", field=field)
    if crs.is_geographic:
        in_range = finite & (np.abs(xs) <= 180) & (np.abs(ys) <= 90)
        swapped = ~in_range & finite & (np.abs(ys) <= 180) & (np.abs(xs) <= 90)
        rejects.add(swapped, "swapped_lon_lat", "probably swapped lon/lat", field=field)
        bad = finite & ~in_range
        if bad.any():
            text = np.full(len(xs), "", dtype=object)
            text[bad] = "coordinate out of range (lon=" + _fmt(xs[bad]) + ", lat=" + _fmt(ys[bad]) + ")"
            rejects.add(bad, "coordinate_out_of_range", text, field=field)
        return
    todo = finite & rejects.ok
    box = _valid_box(crs)
    if box is not None:  # inside the projected bounds of the CRS's area of use: valid without projecting
        todo &= ~((xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3]))
    if not todo.any():
        return
    lon = np.full(len(xs), np.nan)
    lat = np.full(len(xs), np.nan)
    tr = transformer(crs, WGS84)  # built once per process: building one costs more than 100k points
    with np.errstate(all="ignore"):
        lon[todo], lat[todo] = tr.transform(xs[todo], ys[todo], errcheck=False)
    bad = todo & ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        text = np.full(len(xs), "", dtype=object)
        text[bad] = "coordinate out of range for " + crs.to_string() + " (x=" + _fmt(xs[bad]) + ", y=" + _fmt(ys[bad]) + ")"
        rejects.add(bad, "coordinate_out_of_range", text, field=field)


@functools.lru_cache(maxsize=64)
def _valid_box(crs: pyproj.CRS) -> tuple[float, float, float, float] | None:
    """Projected bounds of a projected CRS's area of use, where every point projects back to a valid
    longitude/latitude (checked at a grid of points over the box); None when unknown.

    Projected from the CRS's own geographic CRS when that counts degrees from Greenwich (the
    projection alone: PROJ builds it without searching its database, ~1 ms, where a transformer to
    WGS84 costs ~0.15 s of CPU once per process); a datum differs from WGS84 by metres, far from
    the ±180°/±90° a valid coordinate must keep."""
    area = crs.area_of_use
    if area is None or not crs.is_projected:
        return None
    try:
        base = crs.geodetic_crs
        greenwich = base is not None and base.prime_meridian.longitude == 0 and all(
            a.unit_name == "degree" for a in base.axis_info)
        # the transformer check_coordinates uses otherwise (building another costs 0.1 s)
        back = transformer(crs, base if greenwich else WGS84)
        box = back.transform_bounds(area.west, area.south, area.east, area.north, densify_pts=21,
                                    direction=pyproj.enums.TransformDirection.INVERSE)
        gx, gy = np.meshgrid(np.linspace(box[0], box[2], 41), np.linspace(box[1], box[3], 41))
        lon, lat = back.transform(gx.ravel(), gy.ravel(), errcheck=False)
    except pyproj.exceptions.ProjError:
        return None
    ok = np.isfinite(box).all() and np.isfinite(lon).all() and np.isfinite(lat).all()
    return tuple(map(float, box)) if ok and (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all() else None


def _fmt(values: np.ndarray) -> np.ndarray:
    return np.array([f"{v:g}" for v in values], dtype=object) if len(values) else np.array([], dtype=object)


def _area_union(area: Any) -> shapely.Geometry | None:
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        geom = shapely.union_all(area.to_crs(WGS84).geometry.values)
    else:
        geom = area
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        raise InputError("area= must be a non-empty polygon (WGS84) or a GeoDataFrame/GeoSeries with a CRS")
    shapely.prepare(geom)
    return geom


def read_points(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    x: str = "lon",
    y: str = "lat",
    crs: CRSLike = "EPSG:4326",
    id: str | None = None,
    time: str | list[str] | None = None,
    area: shapely.Geometry | GeoFrame | None = None,
    to_crs: CRSLike | None = None,
    columns: dict[str, str] | None = None,
    sheet: str | int | None = None,
    header_row: int = 1,
    encoding: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read point records and split them into accepted points and rejects.

    Parameters
    ----------
    source : path or DataFrame
        CSV, Parquet/GeoParquet, GeoPackage, GeoJSON, Shapefile, or a (Geo)DataFrame.
        Points come from the ``x``/``y`` columns, or from the geometry when the
        source has one and lacks those columns.
    x, y : str
        Coordinate column names (longitude and latitude for geographic CRSs).
    crs : str, int or pyproj.CRS
        CRS of the coordinates; ``"gcj02"`` and ``"bd09"`` are converted to WGS84.
        A GeoDataFrame's own CRS wins over the default.
    id : str, optional
        Identifier column: missing or repeated ids are rejected (the first occurrence is kept).
    time : str or list of str, optional
        Timestamp column(s) parsed to ``datetime64``; unparseable values are rejected,
        empty values are kept as NaT.
    area : polygon or GeoDataFrame, optional
        Study area; points outside it are rejected (or flagged as swapped when the
        swapped pair falls inside).
    to_crs : optional
        Reproject accepted points to this CRS (for example ``gl.crs.metric_crs_for``).
    columns : dict, optional
        ``{"源列": "gridlib_name"}``: rename input columns first. Without it, common headers
        (经度/纬度/案件编号/上报时间 …, :data:`COLUMN_ALIASES`) are recognised for *x*, *y*,
        *id* and *time* when the input lacks those names.
    sheet, header_row, encoding : optional
        How to read the file: workbook sheet and 1-based header row (``.xlsx``), CSV encoding
        (detected when not given). See :func:`open_table`.

    Returns
    -------
    accepted : geopandas.GeoDataFrame
        Valid points (WGS84 unless the input was projected or ``to_crs`` given),
        original columns kept, original index kept.
    rejects : pandas.DataFrame
        The rejected rows exactly as read, plus ``reason``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lon": ["121.5", "31.24", "x"], "lat": ["31.24", "121.5", "31.2"]})
    >>> ok, bad = read_points(df)
    >>> len(ok), bad["reason"].tolist()
    (1, ['probably swapped lon/lat', 'non-numeric coordinate'])
    """
    accepted, rejects, _ = read_points_xy(source, x=x, y=y, crs=crs, id=id, time=time, area=area, to_crs=to_crs,
                                           columns=columns, sheet=sheet, header_row=header_row, encoding=encoding)
    return accepted, rejects


def read_points_xy(source: str | os.PathLike[str] | pd.DataFrame, *, x: str, y: str, crs: CRSLike, id: str | None,
                    time: str | list[str] | None, area: shapely.Geometry | GeoFrame | None, to_crs: CRSLike | None,
                    columns: dict[str, str] | None, sheet: str | int | None, header_row: int, encoding: str | None
                    ) -> tuple[gpd.GeoDataFrame, pd.DataFrame, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`read_points` with every argument given, and the coordinates of the accepted points.

    The coordinates are in the returned frame's CRS (None after ``to_crs``): read once, for a caller that
    needs them next (:func:`gridlib.assign`: 20 ms at 300k points).

    >>> ok, bad, (x, y) = read_points_xy(pd.DataFrame({"lon": [121.5, 500.0], "lat": [31.2, 31.2]}), x="lon",
    ...     y="lat", crs="EPSG:4326", id=None, time=None, area=None, to_crs=None, columns=None, sheet=None,
    ...     header_row=1, encoding=None)
    >>> len(ok), len(bad), x.tolist(), y.tolist()
    (1, 1, [121.5], [31.2])
    """
    times = [time] if isinstance(time, str) else list(time or [])
    frame = load_table(source, columns=columns, wanted=[x, y, id, *times], sheet=sheet, header_row=header_row,
                       encoding=encoding)
    n = len(frame)
    src_crs, scheme = resolve_crs(crs)
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None and crs in (None, "EPSG:4326"):
        src_crs, scheme = pyproj.CRS.from_user_input(frame.crs), None
    rejects = Rejects(frame.index)
    add = rejects.add
    use_geometry = x not in frame.columns or y not in frame.columns
    if use_geometry:
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError(
                f"no coordinate columns {x!r}/{y!r} and no geometry; columns are {list(frame.columns)}"
            )
        geoms = np.asarray(frame.geometry.array, dtype=object)  # the shapely ufuncs, not pandas' dispatch
        gname = frame.geometry.name
        kind = shapely.get_type_id(geoms)  # -1 where missing
        # all points (the usual case): get_x and get_y, faster than get_coordinates (GEOS refuses an empty
        # point; NaN coordinates also take the full checks)
        xs = ys = None
        if (kind == 0).all():
            try:
                xs, ys = shapely.get_x(geoms), shapely.get_y(geoms)
            except shapely.errors.GEOSException:
                xs = None
        if xs is None or np.isnan(xs).any() or np.isnan(ys).any():
            missing, empty = kind == -1, shapely.is_empty(geoms)
            add(missing, "missing_geometry", "missing geometry", field=gname)
            add(empty, "empty_geometry", "empty geometry", field=gname)
            not_point = kind != 0
            add(not_point & ~missing, "wrong_geometry_type", "not a point", field=gname)
            usable = np.where(not_point | empty, None, geoms)
            xs, ys = _point_xy(usable)
        add(~np.isfinite(xs) | ~np.isfinite(ys), "non_numeric_coordinate", "coordinate is not a finite number",
            field=gname)
    else:
        raw_x, raw_y = frame[x], frame[y]
        missing = raw_x.isna().to_numpy() | raw_y.isna().to_numpy()
        if raw_x.dtype == object or pd.api.types.is_string_dtype(raw_x):
            missing |= raw_x.astype("string").str.strip().fillna("").eq("").to_numpy()
        if raw_y.dtype == object or pd.api.types.is_string_dtype(raw_y):
            missing |= raw_y.astype("string").str.strip().fillna("").eq("").to_numpy()
        xs = pd.to_numeric(raw_x, errors="coerce").to_numpy(dtype="float64")
        ys = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype="float64")
        add(missing, "missing_coordinate", "missing coordinate", field=f"{x},{y}")
        add(~np.isfinite(xs) | ~np.isfinite(ys), "non_numeric_coordinate", "non-numeric coordinate",
            field=f"{x},{y}")

    geographic = src_crs.is_geographic
    check_crs_plausible(xs, ys, src_crs, what=str(source) if not isinstance(source, pd.DataFrame) else "the points")
    check_coordinates(xs, ys, src_crs, rejects, field=f"{x},{y}" if not use_geometry else frame.geometry.name)

    ok = rejects.ok
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if geographic:
        lon[ok], lat[ok] = to_wgs84(xs[ok], ys[ok], scheme)
        out_crs = WGS84 if scheme else src_crs
    else:
        lon[ok], lat[ok] = xs[ok], ys[ok]
        out_crs = src_crs

    region = _area_union(area)
    if region is not None:
        check_x, check_y = lon, lat
        if not out_crs.equals(WGS84):
            tr = pyproj.Transformer.from_crs(out_crs, WGS84, always_xy=True)
            check_x, check_y = tr.transform(lon, lat)
        inside = np.zeros(n, dtype=bool)
        inside[ok] = shapely.contains_xy(region, check_x[ok], check_y[ok])
        outside = ok & ~inside
        if geographic and outside.any():
            sx, sy = to_wgs84(ys[outside], xs[outside], scheme)
            swap_inside = np.zeros(n, dtype=bool)
            swap_inside[outside] = shapely.contains_xy(region, sx, sy)
            add(swap_inside, "swapped_lon_lat", "probably swapped lon/lat")
        add(outside, "outside_study_area", "outside the study area")

    if id is not None:
        _check_ids(frame, id, rejects)

    parsed_times: dict[str, pd.Series] = {}
    for column in times:
        if column not in frame.columns:
            raise InputError(f"time column {column!r} not found; columns are {list(frame.columns)}")
        parsed, codes = parse_times(frame[column])
        reject_times(rejects, frame[column], parsed, codes, column, required=True)
        parsed_times[column] = parsed

    ok = rejects.ok
    rejected = rejects.frame(pd.DataFrame(frame))
    if isinstance(frame, gpd.GeoDataFrame):
        rejected = rejected.drop(columns=frame.geometry.name)
        rejected.insert(len(rejected.columns) - 3, "geometry_wkt", shapely.to_wkt(frame.geometry.values[~ok]))

    accepted = pd.DataFrame(frame)
    if isinstance(frame, gpd.GeoDataFrame):  # the geometry is not taken with the rows: the points are made below
        accepted = accepted.drop(columns=frame.geometry.name)
    accepted = accepted if ok.all() else accepted.loc[ok]  # all accepted: no take (frame is our copy)
    for column, parsed in parsed_times.items():
        accepted[column] = parsed[ok]
    if not use_geometry:
        accepted[x] = xs[ok] if not scheme else lon[ok]
        accepted[y] = ys[ok] if not scheme else lat[ok]
    kept = use_geometry and not scheme and not _has_z_or_m(geoms if ok.all() else geoms[ok])
    if kept:
        geometry = gpd.array.GeometryArray(geoms[ok], crs=out_crs)  # the same 2D points: not rebuilt
    else:
        geometry = gpd.points_from_xy(lon[ok], lat[ok], crs=out_crs)
    # copy=False: a DataFrame given to GeoDataFrame is otherwise copied whole (columns taken or ours already;
    # copy-on-write keeps the caller's frame apart)
    accepted = gpd.GeoDataFrame(accepted, geometry=geometry, crs=out_crs, copy=False)
    if to_crs is not None:
        accepted = accepted.to_crs(to_crs)
    if len(rejected):
        log.info("read_points: %d accepted, %d rejected %s", len(accepted), len(rejected), counts(rejected))
    rejects = rejected
    extra = invalid_row_rejects(frame)
    if len(extra):
        rejects = pd.concat([rejects, extra])
        n += len(extra)
    assert len(accepted) + len(rejects) == n
    if to_crs is not None:
        return accepted, rejects, None
    return accepted, rejects, (xs[ok], ys[ok]) if kept else (lon[ok], lat[ok])


#: Tables a GIS writes beside the data (QGIS styles, our own metadata): never "the" layer of a file.
_SIDE_TABLES = frozenset({"layer_styles", "qgis_projects", "gridlib_meta"})


def which_layer(source: str | os.PathLike[str], layer: str | None = None) -> tuple[Path, str | None]:
    """The file and the layer to read from *source*: the named one, or the file's only data layer.

    *source* may name its layer as ``FILE:LAYER`` (for command lines without a ``--layer``
    option). Without a layer, a file with one data layer gives that layer: style and metadata
    tables (``layer_styles`` …) do not count, nor tables without geometry beside spatial ones.
    A file with several data layers is an :class:`~gridlib.errors.InputError` that lists them,
    rather than pyogrio's warning and its first layer, which may be the wrong one.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "two.gpkg")
    >>> g = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    >>> g.to_file(path, layer="roads"); g.to_file(path, layer="zones")
    >>> which_layer(path + ":zones")[1]
    'zones'
    >>> which_layer(path)
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: ...two.gpkg has 2 layers (roads, zones): name one (layer= in Python, FILE:LAYER or --layer on the command line)
    """
    path = Path(source)
    if not path.exists() and layer is None and ":" in path.name:
        stem, _, named = str(source).rpartition(":")
        if named and Path(stem).exists():
            path, layer = Path(stem), named
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if layer is not None or path.is_dir() or path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return path, layer
    try:
        import pyogrio

        listed = pyogrio.list_layers(path)
    except Exception:  # unreadable: the read itself says why
        return path, None
    data = [(str(name), kind) for name, kind in listed if str(name) not in _SIDE_TABLES]
    spatial = [name for name, kind in data if kind is not None]
    names = spatial or [name for name, _ in data]
    if len(names) > 1:
        raise InputError(f"{path} has {len(names)} layers ({', '.join(names)}): name one "
                         "(layer= in Python, FILE:LAYER or --layer on the command line)")
    return path, names[0] if names and len(listed) > 1 else None


def open_layer(source: str | os.PathLike[str] | gpd.GeoDataFrame, layer: str | None = None, *,
                bbox: tuple[float, float, float, float] | None = None, where: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer (or copy a GeoDataFrame) as it is: nothing rejected, nothing reprojected.

    Which layer of a multi-layer file is :func:`which_layer`'s rule.

    >>> g = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    >>> open_layer(g).equals(g)
    True
    """
    if isinstance(source, gpd.GeoDataFrame):
        return source.copy()
    path, layer = which_layer(source, layer)
    try:
        return gpd.read_file(path, layer=layer, bbox=bbox, where=where, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"{path}: cannot read layer {layer!r} ({exc})") from exc


def declare_crs(frame: gpd.GeoDataFrame, crs: CRSLike | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """Apply a user's ``crs=`` to a layer; return it with the offset scheme still to convert, if any.

    >>> g = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(121.5, 31.2)])
    >>> frame, scheme = declare_crs(g, "gcj02")
    >>> frame.crs.to_epsg(), scheme
    (4326, 'gcj02')
    """
    if crs is None:
        return frame, None
    target, scheme = resolve_crs(crs)
    if frame.crs is not None and not scheme and not pyproj.CRS(frame.crs).equals(target):
        log.warning("layer says its CRS is %s but crs=%s was given; using the given CRS", frame.crs, crs)
    return frame.set_crs(target, allow_override=True), scheme


def read_layer(
    source: str | os.PathLike[str] | gpd.GeoDataFrame,
    layer: str | None = None,
    *,
    crs: CRSLike | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    where: str | None = None,
    id: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a vector layer (any OGR format) and reject empty or invalid geometries.

    Parameters
    ----------
    source : path or GeoDataFrame
    layer : str, optional
        Layer name for multi-layer sources (GeoPackage).
    crs : optional
        The layer's CRS when the file has none (a Shapefile without .prj), or
        ``"gcj02"``/``"bd09"`` for offset data, which are converted to WGS84.
        A file without a CRS and no ``crs=`` is an error.
    bbox, where : optional
        Passed to pyogrio to read a part of the layer.
    id : str, optional
        Identifier column: missing or repeated ids are rejected.

    Returns
    -------
    accepted : geopandas.GeoDataFrame
    rejects : pandas.DataFrame
        Rejected rows with ``reason`` (geometry kept as WKT in ``geometry_wkt``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Polygon
    >>> bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> g = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[bowtie, Polygon([(0, 0), (1, 0), (1, 1)])], crs=4547)
    >>> ok, bad = read_layer(g)
    >>> ok["code"].tolist(), bad["reason"].str.startswith("invalid geometry").tolist()
    (['b'], [True])
    """
    frame, scheme = declare_crs(open_layer(source, layer, bbox=bbox, where=where), crs)
    if frame.crs is None:
        raise CRSError(
            f"{source if not isinstance(source, gpd.GeoDataFrame) else 'the layer'} has no CRS "
            "(a Shapefile without .prj?); pass crs= to say which CRS it is in"
        )
    check_layer_crs(frame, str(source) if not isinstance(source, gpd.GeoDataFrame) else "the layer")
    geoms = frame.geometry.values
    gname = frame.geometry.name
    rejects = Rejects(frame.index)
    rejects.add(shapely.is_missing(geoms), "missing_geometry", "missing geometry", field=gname)
    rejects.add(shapely.is_empty(geoms), "empty_geometry", "empty geometry", field=gname)
    # one coordinate check per geometry: every vertex finite and in range (after projection too)
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    if len(coords):
        vertex = Rejects(pd.RangeIndex(len(coords)))
        check_coordinates(coords[:, 0], coords[:, 1], frame.crs, vertex, field=gname)
        for code in ("non_numeric_coordinate", "swapped_lon_lat", "coordinate_out_of_range"):
            hit = np.zeros(len(frame), dtype=bool)
            hit[owner[np.equal(vertex.codes, code)]] = True
            rejects.add(hit, code, "a vertex: " + CODES[code] + " (" + pyproj.CRS(frame.crs).to_string() + ")",
                        field=gname)
    invalid = ~shapely.is_valid(geoms) & rejects.ok
    if invalid.any():
        text = np.full(len(frame), "", dtype=object)
        text[invalid] = "invalid geometry: " + np.asarray(shapely.is_valid_reason(geoms[invalid]), dtype=object)
        rejects.add(invalid, "invalid_geometry", text, field=gname)
    if id is not None:
        _check_ids(frame, id, rejects)
    ok = rejects.ok
    rejected = rejects.frame(pd.DataFrame(frame).drop(columns=gname))
    rejected.insert(len(rejected.columns) - 3, "geometry_wkt", shapely.to_wkt(geoms[~ok]))
    rejects_out = rejected
    accepted = frame.loc[ok].copy()
    if scheme:
        accepted = convert_offset(accepted, scheme)
    return accepted, rejects_out


def convert_offset(gdf: gpd.GeoDataFrame, scheme: str) -> gpd.GeoDataFrame:
    """Convert every vertex of *gdf* from an offset scheme to WGS84 (vectorised).

    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(121.5, 31.2)], crs=4326)
    >>> round(float(convert_offset(g, "gcj02").geometry.x.iloc[0]), 4)
    121.4956
    """
    geoms = gdf.geometry.values
    coords = shapely.get_coordinates(geoms)
    lon, lat = to_wgs84(coords[:, 0], coords[:, 1], scheme)
    out = gdf.copy()
    out[gdf.geometry.name] = shapely.set_coordinates(shapely.from_wkb(shapely.to_wkb(geoms)), np.column_stack([lon, lat]))
    return out.set_crs(WGS84, allow_override=True)


# ---------------------------------------------------------------- writing


def process_umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``).

    >>> 0 <= process_umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # fallback: read by setting and restoring it at once
    os.umask(mask)
    return mask


def give_mode(tmp: str | os.PathLike[str], target: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Give a temporary file or folder the mode *target* has, or a new one's mode under the umask.

    ``mkstemp``/``mkdtemp`` create 0600/0700 entries; an atomic write renames
    such an entry over *target*, so without this a shared 0664 file would
    become readable by its writer only.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "t").write_text("x"); (d / "shared").write_text("y"); (d / "shared").chmod(0o664)
    1
    1
    >>> give_mode(d / "t", d / "shared"); oct((d / "t").stat().st_mode & 0o777)
    '0o664'
    """
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = (0o777 if directory else 0o666) & ~process_umask()
    os.chmod(tmp, mode)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to *path*; move it into place only on success.

    With ``copy_existing=True`` the temporary file starts as a copy of the
    current file (used to add a layer to a GeoPackage atomically). The file
    put in place keeps the mode of the file it replaces; a new one gets the
    mode a plain ``open()`` would give (0666 less the umask).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if copy_existing and target.exists():
            shutil.copyfile(target, tmp)
        else:
            tmp.unlink()
        yield tmp
        if tmp.exists():
            give_mode(tmp, target, directory=tmp.is_dir())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_crs(gdf: gpd.GeoDataFrame) -> None:
    if isinstance(gdf, gpd.GeoDataFrame) and gdf.crs is None:
        raise CRSError("refusing to write a GeoDataFrame without a CRS; set one with .set_crs()")


def write_gpkg(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], layer: str) -> Path:
    """Write (or replace) one layer of a GeoPackage atomically; other layers are kept.

    >>> import geopandas as gpd, tempfile, pathlib
    >>> from shapely.geometry import Point
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.gpkg"
    >>> _ = write_gpkg(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=4326), p, "pts")
    >>> gpd.list_layers(p)["name"].tolist()
    ['pts']
    """
    _check_crs(gdf)
    with atomic_path(path, copy_existing=True) as tmp:
        gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio", mode="w")
    return Path(path)


def write_geojson(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a GeoJSON file atomically (reprojected to WGS84, as RFC 7946 requires).

    >>> import geopandas as gpd, tempfile, pathlib
    >>> from shapely.geometry import Point
    >>> p = write_geojson(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(1, 2)], crs=4326),
    ...                   pathlib.Path(tempfile.mkdtemp()) / "x.geojson")
    >>> p.suffix
    '.geojson'
    """
    _check_crs(gdf)
    with atomic_path(path) as tmp:
        # name the layer after the target, not the temporary file, so the same data give the same bytes
        gdf.to_crs(WGS84).to_file(tmp, driver="GeoJSON", engine="pyogrio", layer=Path(path).stem, WRITE_BBOX="NO")
    return Path(path)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write GeoParquet (GeoDataFrame) or Parquet (DataFrame) atomically.

    >>> import pandas as pd, tempfile, pathlib
    >>> p = write_parquet(pd.DataFrame({"a": [1]}), pathlib.Path(tempfile.mkdtemp()) / "x.parquet")
    >>> pd.read_parquet(p)["a"].tolist()
    [1]
    """
    _check_crs(frame)  # type: ignore[arg-type]
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def _formatted_floats(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """*frame* with its float64 columns as the text ``to_csv(float_format=fmt)`` writes for them (missing: empty).

    Each distinct value (by its bits, so ``-0.0`` stays apart from ``0.0``) is formatted once: a city's KPI tables
    hold 1.7 M floats, mostly missing or repeated rates, which pandas formatted one by one (2.4 s CPU).

    >>> _formatted_floats(pd.DataFrame({"r": [0.5, float("nan"), 1 / 3, -0.0, 0.5], "n": [1, 2, 3, 4, 5]}),
    ...                   "%.6g")["r"].tolist()
    ['0.5', '', '0.333333', '-0', '0.5']
    """
    out = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype == np.float64:
            codes, bits = pd.factorize(col.to_numpy().view(np.int64))
            text = [fmt % v if v == v else "" for v in bits.view(np.float64).tolist()]
            out[name] = np.array(text, dtype=object)[codes]
    return frame.assign(**out) if out else frame


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, geometry: str | None = "wkt",
              float_format: str | None = None) -> Path:
    """Write CSV atomically, as UTF-8 with a BOM (so Excel on Chinese Windows shows 陆家嘴, not mojibake).

    A geometry column is written as WKT (or dropped with ``geometry=None``); every gridlib
    reader (and pandas) reads the BOM. Put names beside codes first with :func:`with_names`.

    >>> import pandas as pd, tempfile, pathlib
    >>> p = write_csv(pd.DataFrame({"a": [1]}), pathlib.Path(tempfile.mkdtemp()) / "x.csv")
    >>> p.read_bytes()
    b'\\xef\\xbb\\xbfa\\n1\\n'
    """
    out = pd.DataFrame(frame).copy()
    if isinstance(frame, gpd.GeoDataFrame):
        name = frame.geometry.name
        if geometry == "wkt":
            out[name] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
        else:
            out = out.drop(columns=name)
    if float_format is not None:  # each distinct float formatted once, as to_csv's float_format writes it
        out = _formatted_floats(out, float_format)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8-sig", float_format=float_format)
    return Path(path)


def write_any(frame: pd.DataFrame, path: str | os.PathLike[str], *, layer: str | None = None) -> Path:
    """Write by suffix: .gpkg (needs *layer*), .geojson/.json, .parquet, .csv.

    >>> import pandas as pd, tempfile, pathlib
    >>> write_any(pd.DataFrame({"a": [1]}), pathlib.Path(tempfile.mkdtemp()) / "x.csv").suffix
    '.csv'
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".gpkg":
        return write_gpkg(frame, path, layer or Path(path).stem)  # type: ignore[arg-type]
    if suffix in (".geojson", ".json"):
        return write_geojson(frame, path)  # type: ignore[arg-type]
    if suffix in (".parquet", ".pq"):
        return write_parquet(frame, path)
    if suffix == ".csv":
        return write_csv(frame, path)
    raise InputError(f"{path}: unknown output format {suffix!r}; use .gpkg, .geojson, .parquet or .csv")
