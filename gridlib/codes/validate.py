"""Vectorised validation and normalisation of grid, component, matter and class codes.

One call checks a whole column with pyarrow string kernels and numpy arithmetic
on the arrow buffers seen as byte matrices: no per-row Python. Every input row gets ``valid``, a ``reason``
that names the position and what was expected, the ``normalized`` code and a
``warning`` when the code was repaired.

Defined outcomes for messy input
--------------------------------
=====================================  =============================================
input                                  outcome
=====================================  =============================================
NaN / None / "" / blanks               invalid, ``empty``
full-width digits ``４１０１…``          normalised, warning
spaces or dashes inside ``4101-05…``   removed, warning
integer column ``410108001003007``     normalised, warning ``read as a number``
float ``4.10108001003007e14``          normalised when the float is an exact integer
                                       below 2**53, warning; else invalid. A float
                                       that Excel rounded (``4.10108e14`` is the
                                       integer 410108000000000) fails on its parts
                                       (street code 000).
string ``"410108001003007.0"``         ``.0`` dropped, warning
string ``"4.10108E+14"``               invalid: scientific notation lost digits
                                       (expanded only when every digit is present)
class code ``6012`` / ``101``          one lost leading zero restored, warning
=====================================  =============================================
Grid codes, component identifiers and 事项 codes start with a county code, whose
first digit is never 0, so for them a short code is rejected, never padded.
"""

from __future__ import annotations

import logging
import warnings as _warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridlib.codes.admin import LIST_DATE, county_table
from gridlib.codes.catalogue import (
    CLASS_DIGITS,
    DEFAULT_EDITION,
    EDITIONS,
    check_edition,
    lookup_tables,
)
from gridlib.errors import CodeError
from gridlib.rejects import Rejects

log = logging.getLogger(__name__)

KINDS = ("grid", "component", "matter", "event_class", "class", "street", "community")
GRID_LAYOUTS = ("auto", "14", "15", "15an")

#: 3-digit street block → type (GB/T 10114): (low, high, key, 中文)
STREET_TYPES = (
    (1, 99, "subdistrict", "街道"),
    (100, 199, "town", "镇"),
    (200, 399, "township", "乡"),
    (400, 599, "other", "政企合一单位等"),
)

_SEPARATORS = r"[\s\-‐‑‒–—―_]"


@dataclass(frozen=True)
class _Field:
    name: str
    start: int
    stop: int
    check: str  # county | street | community | sequence | seq_or_zero | class | major | minor


@dataclass(frozen=True)
class _Layout:
    length: int
    label: str
    fields: tuple[_Field, ...]
    class_kind: str | None = None  # "component" | "event" | "any" for class checks
    edition: str | None = None


def _grid_layouts(layout: str) -> tuple[list[_Layout], bool]:
    l15 = _Layout(15, "15 digits (6 county + 3 street + 3 community + 3 grid)", (
        _Field("county", 0, 6, "county"), _Field("street", 6, 9, "street"),
        _Field("community", 9, 12, "community"), _Field("grid sequence", 12, 15, "sequence")))
    l14 = _Layout(14, "14 digits (6 county + 3 street + 3 community + 2 grid, CJ/T 213)", (
        _Field("county", 0, 6, "county"), _Field("street", 6, 9, "street"),
        _Field("community", 9, 12, "community"), _Field("grid sequence", 12, 14, "seq_or_zero")))
    if layout == "15":
        return [l15], False
    if layout == "14":
        return [l14], False
    if layout == "15an":
        return [_Layout(15, "15 characters 0-9/A-Z (GB/T 47678.3)", ())], True
    if layout == "auto":
        return [l15, l14], False
    raise CodeError(f"unknown grid layout {layout!r}; expected one of {', '.join(GRID_LAYOUTS)}")


def _class_fields(edition: str, offset: int) -> tuple[_Field, ...]:
    w = CLASS_DIGITS[edition]
    return (_Field("major class", offset, offset + 2, "major"),
            _Field("minor class", offset + 2, offset + w, "minor"),
            _Field("class", offset, offset + w, "class"))


def _layouts(kind: str, edition: str | None, layout: str) -> tuple[list[_Layout], bool, int | None]:
    """(layouts, alphanumeric?, pad_to) for a kind/edition."""
    if kind == "grid":
        lays, alnum = _grid_layouts(layout)
        return lays, alnum, None
    if kind in ("street", "community"):
        fields = (_Field("county", 0, 6, "county"), _Field("street", 6, 9, "street"))
        if kind == "street":
            return [_Layout(9, "9 digits (6 county + 3 street, GB/T 10114)", fields)], False, None
        return [_Layout(12, "12 digits (6 county + 3 street + 3 community)",
                        (*fields, _Field("community", 9, 12, "community")))], False, None
    eds = EDITIONS if edition is None else (check_edition(edition),)
    out: list[_Layout] = []
    pad_to = None
    for ed in eds:
        w = CLASS_DIGITS[ed]
        seq = 6
        if kind == "component":
            out.append(_Layout(6 + w + seq, f"{6 + w + seq} digits (6 county + {w} class + 6 sequence, {ed})",
                               (_Field("county", 0, 6, "county"), *_class_fields(ed, 6),
                                _Field("sequence", 6 + w, 6 + w + seq, "sequence")), "component", ed))
        elif kind == "matter" and ed == "gbt47678-2026":
            out.append(_Layout(11, "11 digits (6 county + 5 class, gbt47678-2026 事项代码)",
                               (_Field("county", 0, 6, "county"), *_class_fields(ed, 6)), "event", ed))
        elif kind in ("matter", "event_class", "class"):
            ck = "any" if kind == "class" else "event"
            out.append(_Layout(w, f"{w} digits (2 major + {w - 2} minor class, {ed})", _class_fields(ed, 0), ck, ed))
            pad_to = w if edition is not None else None
        else:
            raise CodeError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return out, False, pad_to


class _Reasons:
    """First-failure-wins reasons, kept as arrow patches (no Python string per row)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ok = np.ones(n, dtype=bool)
        self.code = np.full(n, None, dtype=object)
        self._rows: list[np.ndarray] = []
        self._msgs: list[pa.Array] = []

    def set(self, rows: np.ndarray, msg: pa.Array | str, code: str = "malformed_code") -> None:
        """Reason ``msg`` (one per row, or one for all) and reject *code* for ``rows`` still without one."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        keep = self.ok[rows]
        if not keep.any():
            return
        if isinstance(msg, str):
            msg = pa.array([msg] * int(keep.sum()), type=pa.large_string())
        else:
            msg = msg.cast(pa.large_string())
            if not keep.all():
                msg = msg.filter(pa.array(keep))
        rows = rows[keep]
        self.ok[rows] = False
        self.code[rows] = code
        self._rows.append(rows)
        self._msgs.append(msg)

    def array(self) -> pa.Array:
        pos = np.zeros(self.n, dtype=np.int64)
        start = 1
        for rows in self._rows:
            pos[rows] = start + np.arange(len(rows))
            start += len(rows)
        return pa.concat_arrays([pa.array([""], type=pa.large_string()), *self._msgs]).take(pa.array(pos))


class _Warnings:
    """Repairs per row, joined with "; " in the order they were applied."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._flags: list[tuple[np.ndarray, str]] = []

    def add(self, rows: np.ndarray, text: str) -> None:
        if len(rows):
            mask = np.zeros(self.n, dtype=bool)
            mask[rows] = True
            self._flags.append((mask, text))

    def any(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self._flags:
            out |= mask
        return out

    def array(self) -> pa.Array:
        out = pa.nulls(self.n, pa.large_string())
        for mask, text in self._flags:
            lit = pa.scalar(text, pa.large_string())
            joined = pc.binary_join_element_wise(out, lit, pa.scalar("; ", pa.large_string()))
            out = pc.if_else(pa.array(mask), pc.coalesce(joined, lit), out)
        return pc.fill_null(out, "")


def check_codes(
    series: pd.Series | list | np.ndarray,
    kind: str = "grid",
    edition: str | None = DEFAULT_EDITION,
    *,
    layout: str = "auto",
    check_county: bool = True,
    check_catalogue: bool = True,
    streets: Iterable[str] | pd.Series | None = None,
    log_summary: bool = True,
) -> pd.DataFrame:
    """Check and normalise a column of codes: one report row per input value (nothing dropped).

    Parameters
    ----------
    series : Series, list or array
        Codes as strings, integers or floats (for example a column read from Excel).
    kind : {"grid", "component", "matter", "event_class", "class", "street", "community"}
        ``grid``: 单元网格标识码; ``component``: 部件标识码 (17 digits in 2026, 16 in
        2007); ``matter``: 2026 事项代码 (11 digits) or, for ``cjt214-2007``, the 4-digit
        event class; ``event_class``: an event/事项 class code; ``class``: any class code;
        ``street`` / ``community``: the 9- / 12-digit parent codes of a grid.
    edition : str or None
        ``gbt47678-2026`` (default) or ``cjt214-2007``; ``None`` accepts both layouts
        (a lost leading zero of a class code is then not restored). Ignored for grid,
        street and community codes.
    layout : {"auto", "15", "14", "15an"}
        Grid code layout: 6+3+3+3, 6+3+3+2 (CJ/T 213), 15 characters 0-9/A-Z, or
        ``auto`` for the two digit layouts.
    check_county : bool
        Check the 6-digit county part against the shipped GB/T 2260 list.
    check_catalogue : bool
        Check class codes against the catalogue (with registered city extensions).
    streets : iterable of str, optional
        Known 9-digit street/town codes (county + 3 digits, e.g. a city's GB/T 10114
        list); a grid, street or community code whose street is not among them is invalid.
    log_summary : bool
        Log how many codes were invalid or repaired.

    Returns
    -------
    DataFrame
        Aligned with the input (same index): ``valid`` (bool), ``reason_code`` (a code of
        :data:`gridlib.rejects.CODES`: ``malformed_code``, ``unknown_code`` or ``missing_value``;
        missing when valid), ``reason`` (str, empty when valid), ``normalized`` (str, missing when invalid) and ``warning`` (str,
        non-empty when the code was repaired, e.g. full-width digits).

    Examples
    --------
    >>> import pandas as pd, gridlib as gl
    >>> r = gl.codes.check_codes(pd.Series(["410105001003007", "41010500100300X", "４１０１０５-001-003-007", None]))
    >>> r.reason_code.tolist()
    [<NA>, 'malformed_code', <NA>, 'missing_value']
    >>> r.valid.tolist()
    [True, False, True, False]
    >>> r.reason.tolist()
    ['', "non-digit 'X' at position 15", '', 'empty']
    >>> r.normalized.iloc[2], r.warning.iloc[2]
    ('410105001003007', 'full-width or compatibility characters converted; spaces/dashes removed')
    >>> gl.codes.check_codes(pd.Series([6012, 6099]), kind="class").reason.tolist()
    ['', 'unknown class 06099 in gbt47678-2026']
    >>> gl.codes.check_codes(["410108001003007", "410108099003007"], streets=["410108001"]).reason.tolist()
    ['', 'street 410108099 not in the given street list']
    """
    s = series if isinstance(series, pd.Series) else pd.Series(series, dtype=object)
    if kind in ("grid", "street", "community"):
        edition = None
    lays, alnum, pad_to = _layouts(kind, edition, layout)
    known_streets = None if streets is None else _street_keys(streets)
    n = len(s)
    reasons = _Reasons(n)
    warnings = _Warnings(n)
    text = _to_text(s.reset_index(drop=True), reasons, warnings)
    lengths = sorted({lay.length for lay in lays})
    chars = "0-9A-Z" if alnum else "0-9"
    buf = _Buffers(text)
    fast = np.zeros(n, dtype=bool)
    fast_mats: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # length -> (rows, byte matrix), reused below
    for L in lengths:  # rows of the right byte length whose bytes are all allowed characters
        rows = np.flatnonzero(reasons.ok & (buf.lengths == L))
        if len(rows):
            mat = buf.matrix(rows, L)
            ok = (((mat >= 48) & (mat <= 57)) | (((mat >= 65) & (mat <= 90)) if alnum else False)).all(axis=1)
            fast[rows[ok]] = True
            fast_mats[L] = (rows[ok], mat if ok.all() else mat[ok])
    slow = ~fast & reasons.ok
    if slow.any():
        text = _repair(text, slow, reasons, warnings, alnum=alnum, pad_to=pad_to)
    # characters, then length
    if (reasons.ok & ~fast).any():
        idx = np.flatnonzero(reasons.ok & ~fast)
        sub = text.take(pa.array(idx))
        okc = _bool(pc.match_substring_regex(sub, f"^[{chars}]+$"))
        if (~okc).any():
            bad = sub.filter(pa.array(~okc))
            ext = pc.extract_regex(bad, f"^(?P<pre>[{chars}]*)(?P<c>[^{chars}])")
            pos = pc.cast(pc.add(pc.utf8_length(ext.field("pre")), 1), pa.string())
            what = "character outside 0-9/A-Z" if alnum else "non-digit"
            msg = _join(f"{what} '", ext.field("c"), "' at position ", pos)
            reasons.set(idx[~okc], msg)
        lens = pc.utf8_length(sub).to_numpy(zero_copy_only=False)
        badlen = okc & ~np.isin(lens, lengths)
        if badlen.any():
            expected = " or ".join(lay.label for lay in lays)
            reasons.set(idx[badlen], _join("wrong length ", pa.array(lens[badlen]).cast(pa.string()),
                                           f" (expected {expected})"))
    repaired = slow & reasons.ok
    if repaired.any():
        buf = _Buffers(text)
    for lay in lays:
        if not lay.fields:
            continue
        if lay.length in fast_mats:  # rows that were clean from the start: their bytes are known
            rows, mat = fast_mats[lay.length]
            _check_fields(mat, rows, lay, reasons, check_county, check_catalogue, known_streets)
        rows = np.flatnonzero(repaired & (buf.lengths == lay.length))
        if len(rows):
            _check_fields(buf.matrix(rows, lay.length), rows, lay, reasons, check_county, check_catalogue,
                          known_streets)
    valid = reasons.ok
    normalized = text if valid.all() else pc.if_else(pa.array(valid), text, pa.scalar(None, pa.large_string()))
    out = pd.DataFrame({
        "valid": valid,
        "reason": pd.array(reasons.array(), dtype="str"),
        "normalized": pd.array(normalized, dtype="str"),
        "warning": pd.array(warnings.array(), dtype="str"),
        "reason_code": pd.array(reasons.code, dtype="string"),
    }, index=s.index)
    if log_summary:
        nbad = int((~valid).sum())
        nwarn = int((valid & warnings.any()).sum())
        if nwarn:
            log.warning("%d of %d %s codes were repaired (see the warning column)", nwarn, n, kind)
        log.info("validated %d %s codes: %d invalid", n, kind, nbad)
    return out



def validate_codes(
    values: pd.Series | list | np.ndarray,
    kind: str = "grid",
    edition: str | None = DEFAULT_EDITION,
    *,
    layout: str = "auto",
    check_county: bool = True,
    check_catalogue: bool = True,
    streets: Iterable[str] | pd.Series | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Check a column of codes; return ``(accepted, rejects)`` like every ``validate_*``.

    The rules and options are those of :func:`check_codes` (which reports every value, with the
    repair warnings); here the valid codes are kept and the others rejected, nothing lost:
    ``len(accepted) + len(rejects) == len(values)``.

    Returns
    -------
    accepted : Series
        The normalised codes of the valid values (input index; named as the input, else ``code``).
    rejects : DataFrame
        The invalid values as given (same column name) plus ``reason_code``
        (``malformed_code``, ``unknown_code`` or ``missing_value``), ``field`` and ``reason``.

    Examples
    --------
    >>> import pandas as pd, gridlib as gl
    >>> ok, bad = gl.codes.validate_codes(pd.Series(["410105001003007", "４１０１０５-001-003-007", "41010500100300X"]))
    >>> ok.tolist(), bad[["code", "reason_code", "reason"]].values.tolist()
    (['410105001003007', '410105001003007'], [['41010500100300X', 'malformed_code', "non-digit 'X' at position 15"]])
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    name = s.name if s.name is not None else "code"
    res = check_codes(s, kind, edition, layout=layout, check_county=check_county, check_catalogue=check_catalogue,
                      streets=streets, log_summary=False)
    valid = res["valid"].to_numpy(dtype=bool)
    found = Rejects(s.index)
    for code in pd.unique(res["reason_code"][~valid].dropna()):
        found.add((res["reason_code"] == code).fillna(False).to_numpy(dtype=bool) & ~valid, str(code), res["reason"],
                  field=name)
    accepted = res["normalized"][valid].rename(name)
    return accepted, found.frame(s.rename(name).to_frame())


def validate(*args: object, **kwargs: object) -> pd.DataFrame:
    """Deprecated name of :func:`check_codes` (``validate*`` checks records and returns ``(accepted, rejects)``).

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     validate(["410105001003007"]).valid.tolist()
    [True]
    """
    _warnings.warn("gl.codes.validate is deprecated; use gl.codes.check_codes (same arguments, same report) "
                   "or gl.codes.validate_codes for (accepted, rejects)", DeprecationWarning, stacklevel=2)
    return check_codes(*args, **kwargs)  # type: ignore[arg-type]

def _bool(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literal strings."""
    cast = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p.cast(pa.large_string()) for p in parts]
    return pc.binary_join_element_wise(*cast, pa.scalar("", pa.large_string()))


def _to_text(s: pd.Series, reasons: _Reasons, warnings: _Warnings) -> pa.Array:
    """Any input column → arrow large_string array (null where rejected or empty)."""
    dt = s.dtype
    n = len(s)
    if pd.api.types.is_bool_dtype(dt):
        reasons.set(np.arange(n), "boolean value, not a code")
        return pa.nulls(n, pa.large_string())
    if pd.api.types.is_integer_dtype(dt) or pd.api.types.is_float_dtype(dt):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        na = np.isnan(v)
        reasons.set(na, "empty", "missing_value")
        if pd.api.types.is_integer_dtype(dt):
            iv = s.to_numpy(dtype="int64", na_value=0)
            exact = ~na & (iv >= 0)
            reasons.set(~na & (iv < 0), "negative number, not a code")
            note = "read as a number"
        else:
            with np.errstate(invalid="ignore"):
                exact = np.isfinite(v) & (v == np.floor(v)) & (v >= 0) & (v < 2.0**53)
                reasons.set(~na & (v < 0), "negative number, not a code")
            iv = np.where(exact, v, 0).astype(np.int64)
            bad = ~na & ~exact & reasons.ok
            if bad.any():
                shown = pa.array(np.char.mod("%.17g", v[bad]).astype("S")).cast(pa.large_string())
                reasons.set(bad, _join("number ", shown, " is not an exact integer (a float cannot hold "
                                       "this code; read the column as text)"))
            note = "read as a number (float)"
        warnings.add(np.flatnonzero(exact), note)
        text = pc.cast(pa.array(iv), pa.large_string())
        return pc.if_else(pa.array(exact), text, pa.scalar(None, pa.large_string()))
    if isinstance(dt, pd.StringDtype):
        text = pa.array(s.array)
    else:
        try:  # an object column of Python strings converts directly
            text = pa.array(s.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values: str() each
            text = pa.array(s.astype("str").array)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = text.cast(pa.large_string())
    reasons.set(_bool(pc.is_null(text)), "empty", "missing_value")
    return text


def _repair(text: pa.Array, slow: np.ndarray, reasons: _Reasons, warnings: _Warnings, *,
            alnum: bool, pad_to: int | None) -> pa.Array:
    """Normalise the rows that missed the fast path; record warnings and rejections."""
    n = len(text)
    idx = np.flatnonzero(slow)
    u = pc.utf8_trim_whitespace(text.take(pa.array(idx)))
    empty = _bool(pc.equal(u, ""))
    reasons.set(idx[empty], "empty", "missing_value")
    nf = pc.utf8_normalize(u, form="NFKC")
    warnings.add(idx[~_bool(pc.equal(nf, u)) & ~empty], "full-width or compatibility characters converted")
    u = nf
    m = _bool(pc.match_substring_regex(u, r"^[0-9]+\.0+$"))
    if m.any():
        u = pc.if_else(pa.array(m), pc.replace_substring_regex(u, r"\.0+$", ""), u)
        warnings.add(idx[m], "trailing '.0' dropped (number stored as float)")
    sci = _bool(pc.match_substring_regex(u, r"^[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+$"))
    if sci.any():
        si = np.flatnonzero(sci)
        sub = u.take(pa.array(si))
        parts = pc.extract_regex(sub, r"^(?P<a>[0-9])(?:\.(?P<b>[0-9]+))?[eE]\+?(?P<e>[0-9]+)$")
        digits = _join(parts.field("a"), pc.fill_null(parts.field("b"), ""))
        ndig = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
        exp = pc.cast(parts.field("e"), pa.int64()).to_numpy(zero_copy_only=False)
        full = ndig == exp + 1
        if full.any():
            repl = np.arange(len(u))  # row -> row of the merged array
            repl[si[full]] = len(u) + np.arange(int(full.sum()))
            u = pa.concat_arrays([u, digits.filter(pa.array(full))]).take(pa.array(repl))
            warnings.add(idx[si[full]], "scientific notation expanded (all digits present)")
        lost = ~full
        if lost.any():
            reasons.set(idx[si[lost]], _join(
                "scientific notation ", sub.filter(pa.array(lost)), " lost digits (only ",
                pa.array(ndig[lost]).cast(pa.string()), " of ", pa.array(exp[lost] + 1).cast(pa.string()),
                " digits kept, e.g. by Excel); read the column as text"))
    seps = _bool(pc.match_substring_regex(u, _SEPARATORS))
    if seps.any():
        u = pc.replace_substring_regex(u, _SEPARATORS, "")
        warnings.add(idx[seps], "spaces/dashes removed")
    if alnum:
        low = _bool(pc.match_substring_regex(u, "[a-z]"))
        if low.any():
            u = pc.utf8_upper(u)
            warnings.add(idx[low], "lower-case letters upper-cased")
    if pad_to is not None:
        short = _bool(pc.match_substring_regex(u, f"^[1-9][0-9]{{{pad_to - 2}}}$"))
        if short.any():
            u = pc.if_else(pa.array(short), _join("0", u), u)
            warnings.add(idx[short], "leading zero restored")
    pos = np.arange(n)
    pos[idx] = n + np.arange(len(idx))
    return pa.concat_arrays([text, u.cast(pa.large_string())]).take(pa.array(pos))


class _Buffers:
    """Zero-copy numpy views of an arrow large_string array: byte lengths and rows as byte matrices."""

    def __init__(self, arr: pa.Array) -> None:
        self.offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
        data = arr.buffers()[2]
        self.data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        self.lengths = np.diff(self.offsets)  # bytes; null rows have length 0

    def matrix(self, rows: np.ndarray, length: int) -> np.ndarray:
        """(len(rows), length) uint8 matrix of the given rows, which all have ``length`` bytes."""
        if not len(rows):
            return np.empty((0, length), dtype=np.uint8)
        start = self.offsets[rows]
        if start[-1] - start[0] == (len(rows) - 1) * length:  # one contiguous block
            return self.data[start[0]: start[0] + len(rows) * length].reshape(len(rows), length)
        # every window of ``length`` bytes, as a view; picking rows copies only their bytes
        return np.lib.stride_tricks.sliding_window_view(self.data, length)[start]


def _int(mat: np.ndarray, a: int, b: int) -> np.ndarray:
    out = np.zeros(len(mat), dtype=np.int32 if b - a <= 9 else np.int64)
    for j in range(a, b):  # loop over digit positions, not rows
        out = out * 10 + (mat[:, j] - 48)
    return out


def _part(mat: np.ndarray, a: int, b: int) -> pa.Array:
    """Characters ``a:b`` of each row of a byte matrix as an arrow string array (zero-copy build)."""
    sub = np.ascontiguousarray(mat[:, a:b])
    n, w = sub.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(sub)])


def _street_keys(streets: Iterable[str] | pd.Series) -> np.ndarray:
    s = pd.Series(list(streets) if not isinstance(streets, pd.Series) else streets, dtype="str")
    ok = s.str.fullmatch(r"[0-9]{9}").fillna(False)
    if not ok.all():
        raise CodeError(f"streets: {s[~ok].iloc[0]!r} is not a 9-digit street code")
    return np.unique(s.astype("int64").to_numpy())


def _check_fields(mat: np.ndarray, rows: np.ndarray, lay: _Layout, reasons: _Reasons,
                  check_county: bool, check_catalogue: bool, streets: np.ndarray | None = None) -> None:

    def fail(mask: np.ndarray, msg: str | tuple[str, int, int, str], code: str = "malformed_code") -> None:
        mask = mask & reasons.ok[rows]
        if not mask.any():
            return
        if isinstance(msg, tuple):  # (prefix, start, stop, suffix) around the offending part
            prefix, a, b, suffix = msg
            reasons.set(rows[mask], _join(prefix, _part(mat[mask], a, b), suffix), code)
        else:
            reasons.set(rows[mask], msg, code)

    for f in lay.fields:
        v = _int(mat, f.start, f.stop)
        width = f.stop - f.start
        zeros = "0" * width
        if f.check == "county":
            if check_county:
                fail(~county_table()[v], ("county ", 0, 6, f" not in the GB/T 2260 list (as of {LIST_DATE})"),
                     "unknown_code")
        elif f.check in ("street", "community", "major"):
            fail(v == 0, f"{f.name} code {zeros} where one is required")
            if f.check == "street":
                fail(v > 599, (f"{f.name} code ", f.start, f.stop,
                               " outside 001–599 (001–099 街道, 100–199 镇, 200–399 乡, 400–599 other)"))
                if streets is not None:
                    fail(~np.isin(_int(mat, 0, f.stop), streets),
                         ("street ", 0, f.stop, " not in the given street list"), "unknown_code")
        elif f.check in ("sequence", "minor"):
            fail(v == 0, f"{f.name} {zeros} (expected {'0' * (width - 1)}1 or above)")
        elif f.check == "class" and check_catalogue:
            ed = str(lay.edition)
            status = lookup_tables(ed)[lay.class_kind or "any"][v]
            what = "" if lay.class_kind in (None, "any") else f"{lay.class_kind} "
            fail(status == 0, (f"unknown {what}class ", f.start, f.stop, f" in {ed}"), "unknown_code")
            fail(status == 2, (f"{what}class ", f.start, f.stop, f" is a gap in the {ed} table (not known)"),
                 "unknown_code")


def street_type(block: str | int) -> str:
    """Type of a 3-digit street block: ``subdistrict`` (街道), ``town``, ``township`` or ``other``.

    >>> street_type("001"), street_type(100), street_type("560")
    ('subdistrict', 'town', 'other')
    """
    v = int(block)
    for lo, hi, key, _zh in STREET_TYPES:
        if lo <= v <= hi:
            return key
    raise CodeError(f"street code {int(block):03d} outside 001–599")


def split(
    series: pd.Series | list | np.ndarray,
    kind: str = "grid",
    edition: str | None = DEFAULT_EDITION,
    *,
    layout: str = "auto",
    check_county: bool = True,
) -> pd.DataFrame:
    """Validate a column of codes and cut the valid ones into their parts (vectorised).

    Parameters
    ----------
    series : Series, list or array
        Grid codes, component identifiers or 2026 事项 codes.
    kind : {"grid", "component", "matter"}
    edition, layout, check_county
        As for :func:`check_codes` (``edition=None`` accepts both component layouts).

    Returns
    -------
    DataFrame
        Aligned with the input: the columns of :func:`check_codes`, then for ``grid``
        ``county, street, community, sequence, street_code, community_code,
        street_type``; for ``component`` ``county, class_code, sequence, edition``;
        for ``matter`` ``county, class_code``. Parts are missing for invalid rows.

    Examples
    --------
    >>> import gridlib as gl
    >>> p = gl.codes.split(["410105001003007", "41010510200307", "bad"])
    >>> p[["community_code", "sequence", "street_type"]].values.tolist()
    [['410105001003', '007', 'subdistrict'], ['410105102003', '07', 'town'], [nan, nan, nan]]
    >>> gl.codes.split(["41010501004000045"], kind="component").class_code.tolist()
    ['01004']
    """
    if kind not in ("grid", "component", "matter"):
        raise CodeError(f"split: kind must be 'grid', 'component' or 'matter', not {kind!r}")
    if kind == "matter" and edition != "gbt47678-2026":
        raise CodeError("split: 事项 codes have parts only in gbt47678-2026 (CJ/T 214 event codes are bare classes)")
    res = check_codes(series, kind=kind, edition=edition, layout=layout, check_county=check_county)
    code = pa.array(res["normalized"].array)
    if isinstance(code, pa.ChunkedArray):
        code = code.combine_chunks()
    code = code.cast(pa.large_string())
    buf = _Buffers(code)
    valid = res["valid"].to_numpy()
    groups = [(np.flatnonzero(valid & (buf.lengths == L)), L) for L in np.unique(buf.lengths[valid])]
    mats = [(rows, buf.matrix(rows, int(L))) for rows, L in groups]
    out = res.copy()

    def cut(start: int, stop: int | None = None, *, per_length: dict | None = None) -> pd.api.extensions.ExtensionArray:
        """Characters start:stop of every valid code (negative start counts from the end)."""
        pieces, pos = [], np.full(len(code), -1, dtype=np.int64)
        done = 0
        for rows, mat in mats:
            b = (per_length or {}).get(mat.shape[1], stop)
            a = start if start >= 0 else mat.shape[1] + start
            b = mat.shape[1] if b is None else b
            pieces.append(_part(mat, a, b))
            pos[rows] = done + np.arange(len(rows))
            done += len(rows)
        if not pieces:
            return pd.array([None] * len(code), dtype="str")
        if len(pieces) == 1 and done == len(code):  # every row valid, one layout: already in order
            return pd.array(pieces[0], dtype="str")
        taken = pa.concat_arrays(pieces).take(pa.array(pos, mask=pos < 0))
        return pd.array(taken, dtype="str")

    if kind == "grid":
        for name, a, b in (("county", 0, 6), ("street", 6, 9), ("community", 9, 12), ("sequence", 12, None),
                           ("street_code", 0, 9), ("community_code", 0, 12)):
            out[name] = cut(a, b)
        which = np.full(len(code), -1, dtype=np.int64)  # index into STREET_TYPES, -1 for invalid rows
        for rows, mat in mats:
            block = _int(mat, 6, 9)
            for i, (lo, hi, _key, _zh) in enumerate(STREET_TYPES):
                which[rows[(block >= lo) & (block <= hi)]] = i
        out["street_type"] = _labels([t[2] for t in STREET_TYPES], which)
    elif kind == "component":
        out["county"] = cut(0, 6)
        out["class_code"] = cut(6, per_length={17: 11, 16: 10})
        out["sequence"] = cut(-6)
        which = np.full(len(code), -1, dtype=np.int64)
        for rows, mat in mats:
            which[rows] = 0 if mat.shape[1] == 17 else 1
        out["edition"] = _labels(["gbt47678-2026", "cjt214-2007"], which)
    else:
        out["county"] = cut(0, 6)
        out["class_code"] = cut(6)
    return out


def _labels(names: list[str], which: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``names[which]`` as a str array, missing where ``which`` is -1 (no per-row Python)."""
    taken = pa.array(names, type=pa.large_string()).take(pa.array(which, mask=which < 0))
    return pd.array(taken, dtype="str")


def normalize_class_code(code: object, edition: str = DEFAULT_EDITION) -> str:
    """One class code as a string of the edition's width, restoring a lost leading zero.

    Accepts ``6012`` (an integer that lost its zero), ``"06012"`` and full-width digits;
    raises :class:`~gridlib.errors.CodeError` otherwise.

    >>> normalize_class_code(6012)
    '06012'
    >>> normalize_class_code("０１０１", "cjt214-2007")
    '0101'
    """
    check_edition(edition)
    res = check_codes(pd.Series([code], dtype=object), kind="class", edition=edition, check_catalogue=False,
                   log_summary=False)
    if not res["valid"].iloc[0]:
        raise CodeError(f"class code {code!r}: {res['reason'].iloc[0]}")
    return str(res["normalized"].iloc[0])
