"""One rejects model for every reader and analysis.

A batch call never raises for a bad record: it returns ``(accepted, rejects)`` with
``len(accepted) + len(rejects) == len(input)``. ``rejects`` holds the original rows
(original index kept) plus three columns:

``reason_code``
    a machine-readable code from :data:`CODES` (the same defect gets the same code
    from every reader: a missing coordinate is ``missing_coordinate`` whether it comes
    from ``io.read_points``, ``cases.read_log`` or ``trucks.read_fixes``);
``field``
    the column the problem is in (``<NA>`` when it concerns the whole record);
``reason``
    human text, with the offending value. **It may quote personal data**: products
    publish :func:`publishable` rows (id, field, code, the code's description), never
    ``reason``.

Where a record breaks several rules the first rule checked wins. Build rejects with
:class:`Rejects`; count them with :func:`counts`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> frame = pd.DataFrame({"id": ["a", "b", "c"], "x": [1.0, np.nan, 1e9]})
>>> r = Rejects(frame.index)
>>> _ = r.add(frame["x"].isna(), "missing_coordinate", "missing x", field="x")
>>> _ = r.add(frame["x"].abs() > 180, "coordinate_out_of_range", "x out of range: " + frame["x"].astype(str), field="x")
>>> accepted, rejects = r.split(frame)
>>> accepted["id"].tolist(), rejects[["id", "reason_code", "reason"]].values.tolist()
(['a'], [['b', 'missing_coordinate', 'missing x'], ['c', 'coordinate_out_of_range', 'x out of range: 1000000000.0']])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridlib.types import ArrayLike

__all__ = ["CODES", "REJECT_COLUMNS", "Rejects", "empty", "concat", "counts", "publishable", "describe",
           "looks_personal", "mask_personal", "with_codes"]

#: The vocabulary of reject codes, each with what it means. Documented in docs/conventions.md.
CODES: dict[str, str] = {
    # the record as a whole
    "missing_id": "the record has no id",
    "duplicate_id": "the id repeats an earlier record's (the first is kept)",
    "personal_data_id": "the id looks like personal data (a mobile phone or ID-card number); ids are published",
    "truncated_row": "the row has fewer fields than the header",
    "extra_fields": "the row has more fields than the header",
    # coordinates and geometry
    "missing_coordinate": "a coordinate is missing",
    "non_numeric_coordinate": "a coordinate is not a finite number",
    "coordinate_out_of_range": "a coordinate is outside the valid range of its CRS",
    "swapped_lon_lat": "longitude and latitude look swapped",
    "outside_study_area": "the location is outside the study area",
    "missing_geometry": "the record has no geometry",
    "empty_geometry": "the geometry is empty",
    "invalid_geometry": "the geometry is invalid",
    "wrong_geometry_type": "the geometry is not of the type this input takes",
    # times
    "missing_time": "a required time is missing",
    "unparseable_time": "a time cannot be read",
    "ambiguous_time": "a time is ambiguous (day/month order); give a format",
    "time_out_of_range": "a time is outside the sane window",
    "time_order": "a time comes before the time it must follow",
    "duplicate_time": "the record repeats an earlier record's time for the same object",
    "outside_time_window": "the record is outside the time window being checked",
    # values
    "missing_value": "a required value is missing",
    "unknown_value": "a value is not in the field's vocabulary",
    "unknown_code": "a code is not in the catalogue",
    "malformed_code": "a code does not have the required form",
    "bad_number": "a number is not a finite number in the allowed range",
    "inconsistent_record": "the record's fields contradict each other",
    # analysis steps
    "no_grid": "the location is in no unit grid",
    "no_route": "the record has no usable route",
    "no_permit": "the record has no matching permit",
    "speed_outlier": "the fix implies an impossible speed",
}

#: The columns every rejects frame adds to the original rows.
REJECT_COLUMNS = ("reason_code", "field", "reason")


def describe(code: str) -> str:
    """What a reject code means.

    >>> describe("duplicate_id")
    "the id repeats an earlier record's (the first is kept)"
    """
    try:
        return CODES[code]
    except KeyError:
        raise KeyError(f"unknown reject code {code!r}; the codes are in gridlib.rejects.CODES") from None


def _mask(mask: Any, n: int) -> np.ndarray:
    if isinstance(mask, pd.Series):
        mask = mask.fillna(False).to_numpy(dtype=bool)
    out = np.asarray(mask, dtype=bool)
    if out.shape != (n,):
        raise ValueError(f"mask has shape {out.shape}, expected ({n},)")
    return out


class Rejects:
    """Collects the first reason per record; text is built only for the records a rule hits.

    Parameters
    ----------
    index : pandas.Index
        The index of the frame being checked.

    Examples
    --------
    >>> import pandas as pd
    >>> r = Rejects(pd.RangeIndex(3))
    >>> _ = r.add([True, False, True], "missing_id", "missing id")
    >>> _ = r.add([True, True, False], "duplicate_id", "duplicate id")   # row 0 keeps its first reason
    >>> r.codes.tolist(), r.ok.tolist()
    (['missing_id', 'duplicate_id', 'missing_id'], [False, False, False])
    """

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        n = len(index)
        self._ok = np.ones(n, dtype=bool)  # kept beside the codes: asked after every rule
        # per record the add() that rejected it (-1: none), and per add() its code, field and reason (None:
        # one text per record, kept in _reason): the reject columns are taken from these few texts
        self._call = np.full(n, -1, dtype=np.int32)
        self._calls: list[tuple[str, str | None, str | None]] = []
        self._reason: np.ndarray | None = None  # per record, for the add() calls with a text per record

    def __len__(self) -> int:
        return int((~self.ok).sum())

    @property
    def ok(self) -> np.ndarray:
        """Boolean array: True where no rule has been broken yet."""
        return self._ok.copy()

    @property
    def codes(self) -> np.ndarray:
        """The reject code per record (None where accepted)."""
        return np.array([None, *(c for c, _, _ in self._calls)], dtype=object)[self._call + 1]

    def add(self, mask: ArrayLike, code: str, reason: str | pd.Series | np.ndarray | None = None,
            *, field: str | None = None) -> np.ndarray:
        """Reject records in *mask* that have no reason yet.

        Parameters
        ----------
        mask : array-like of bool
            Records breaking the rule (missing values count as False).
        code : str
            A code from :data:`CODES`.
        reason : str or array-like, optional
            Human text; a Series or array aligned with the records gives one text per
            record (only the hit records' entries are read). Default: the code's description.
        field : str, optional
            The column the problem is in.

        Returns
        -------
        numpy.ndarray
            The records newly rejected by this rule.
        """
        if code not in CODES:
            raise KeyError(f"unknown reject code {code!r}; add it to gridlib.rejects.CODES and docs/conventions.md")
        hit = _mask(mask, len(self._ok)) & self._ok
        if not hit.any():
            return hit
        self._ok[hit] = False
        self._call[hit] = len(self._calls)
        self._calls.append((code, field, CODES[code] if reason is None else reason if isinstance(reason, str)
                            else None))
        if reason is not None and not isinstance(reason, str):
            values = reason.to_numpy() if isinstance(reason, pd.Series) else np.asarray(reason, dtype=object)
            if self._reason is None:
                self._reason = np.full(len(self._ok), None, dtype=object)
            self._reason[hit] = values[hit].astype(object)
        return hit

    def frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rejected records of *rows* (aligned with the index) with the reject columns."""
        bad = ~self.ok
        out = pd.DataFrame(rows.iloc[np.flatnonzero(bad)])  # a taken copy: the columns below touch no input
        call = pa.array(self._call[bad].astype(np.int64))
        code, field, reason = (pa.array(list(texts), type=pa.large_string()) for texts in zip(*self._calls, strict=True)) \
            if self._calls else (pa.array([], type=pa.large_string()),) * 3
        out["reason_code"] = pd.array(code.take(call), dtype="string")
        out["field"] = pd.array(field.take(call), dtype="string")
        if reason.null_count and pc.any(pc.is_null(reason.take(call))).as_py():  # a text per record
            texts = np.array([r for _, _, r in self._calls], dtype=object)[self._call[bad]]
            own = np.array([r is None for _, _, r in self._calls])[self._call[bad]]
            texts[own] = self._reason[bad][own]
            out["reason"] = _text(texts)
        else:
            out["reason"] = pd.array(reason.take(call), dtype="string")
        return out

    def split(self, frame: pd.DataFrame, original: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(accepted, rejects)``: accepted rows of *frame*, rejected rows of *original* (default *frame*).

        Pass the raw rows as *original* when *frame* holds parsed values: rejects keep what came in.
        """
        ok = self.ok
        accepted = frame.iloc[np.flatnonzero(ok)]
        return accepted, self.frame(frame if original is None else original)


def _text(values: np.ndarray) -> Any:
    """``pd.array(values, dtype="string")`` through Arrow's own conversion of the Python strings (about
    twice as fast on a few hundred thousand rejects); anything but text and missing values: pandas'."""
    try:
        return pd.array(pa.array(values, type=pa.large_string(), from_pandas=True), dtype="string")
    except (pa.ArrowException, TypeError, ValueError):
        return pd.array(values, dtype="string")


def empty(columns: Iterable[str] = ()) -> pd.DataFrame:
    """A rejects frame with no rows (the given columns plus the reject columns).

    >>> list(empty(["case_id"]).columns)
    ['case_id', 'reason_code', 'field', 'reason']
    """
    cols = [c for c in columns if c not in REJECT_COLUMNS]
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    for c in REJECT_COLUMNS:
        frame[c] = pd.Series(dtype="string")
    return frame


def concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack rejects frames (empty ones are skipped; the reject columns always present).

    >>> import pandas as pd
    >>> a = Rejects(pd.RangeIndex(1))
    >>> _ = a.add([True], "missing_id")
    >>> len(concat([a.frame(pd.DataFrame({"id": [None]})), empty(["id"])]))
    1
    """
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return empty()
    return pd.concat(frames, ignore_index=True)


def counts(rejects: pd.DataFrame) -> dict[str, int]:
    """Rejects per code, sorted by code (what the nightly writes to its manifest).

    >>> import pandas as pd
    >>> counts(pd.DataFrame({"reason_code": ["no_grid", "missing_id", "no_grid"]}))
    {'missing_id': 1, 'no_grid': 2}
    """
    if rejects is None or not len(rejects):
        return {}
    return {str(k): int(v) for k, v in sorted(rejects["reason_code"].value_counts(dropna=False).items())}


# Mainland mobile numbers (an optional +86 / 0086 / 86 prefix, spaces or dashes as 3-4-4) and
# 18-character resident ID-card numbers (checked by their ISO 7064 MOD 11-2 check character below).
_PHONE = r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}"
_ID_CARD = r"[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


def looks_personal(values: ArrayLike) -> np.ndarray:
    """True where a value (an id) looks like personal data: a mainland mobile phone number or a
    resident ID-card number with a valid check character. Vectorised; missing values are False.

    Record ids are published by design (a case's id in every product), so an id of this form would
    republish a person's number: readers reject such records (``personal_data_id``) and
    :func:`publishable` masks such ids.

    >>> looks_personal(["13955550004", "+86 139-5555-0004", "LJZ202610160050", "11010519491231002X",
    ...                 "110105194912310021", "2026112000123", None]).tolist()
    [True, True, False, True, False, False, False]
    """
    text = pd.Series(values, dtype="string").str.strip()
    phone = text.str.fullmatch(_PHONE).fillna(False).to_numpy(dtype=bool)
    card = text.str.fullmatch(_ID_CARD).fillna(False).to_numpy(dtype=bool)
    if card.any():
        rows = text[card].str.upper().to_numpy(dtype=str)
        digits = np.frombuffer("".join(r[:17] for r in rows).encode("ascii"), dtype=np.uint8).reshape(-1, 17) - 48
        expected = _ID_CHECK[(digits.astype(np.int64) @ _ID_WEIGHTS) % 11]
        card[np.flatnonzero(card)] = expected == np.array([r[17] for r in rows])
    return phone | card


def mask_personal(values: ArrayLike) -> pd.Series:
    """*values* as text, with those that :func:`looks_personal` masked as a display of such a number
    is in China: a phone keeps its first 3 and last 4 digits, an ID-card number its 6-digit region
    and last 4 characters.

    >>> mask_personal(["13955550004", "11010519491231002X", "LJZ0001"]).tolist()
    ['139****0004', '110105********002X', 'LJZ0001']
    """
    text = pd.Series(values, dtype="string")
    hit = looks_personal(text)
    if not hit.any():
        return text
    bare = text[hit].str.replace(r"[ -]", "", regex=True).str.replace(r"^(?:\+|00)?86(?=1\d{10}$)", "", regex=True)
    masked = bare.where(bare.str.len() != 11, bare.str.slice(0, 3) + "****" + bare.str.slice(-4))
    masked = masked.where(masked.str.len() != 18, masked.str.slice(0, 6) + "********" + masked.str.slice(-4))
    out = text.copy()
    out[hit] = masked
    return out


def with_codes(rejects: pd.DataFrame) -> pd.DataFrame:
    """*rejects* with a ``reason_code`` and ``field`` on every row (a producer without codes: ``inconsistent_record``).

    >>> import pandas as pd
    >>> with_codes(pd.DataFrame({"reason_code": ["no_grid", None], "reason": ["outside grid coverage", "?"]}))[
    ...     "reason_code"].tolist()
    ['no_grid', 'inconsistent_record']
    """
    out = rejects.copy()
    if "reason_code" not in out.columns:
        out["reason_code"] = pd.Series(pd.NA, index=out.index, dtype="string")
    if "field" not in out.columns:
        out["field"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["reason_code"] = out["reason_code"].astype("string").fillna("inconsistent_record")
    return out


def publishable(rejects: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """The form of rejects that may be published: record id, field, code and the code's meaning.

    The offending value never leaves: ``reason`` (which quotes it) stays in the
    operator's unpublished rejects file. An id that looks like personal data (a phone or
    ID-card number, :func:`looks_personal`) is published masked (:func:`mask_personal`).

    >>> import pandas as pd
    >>> r = pd.DataFrame({"case_id": ["c1"], "reporter_phone": ["13900000000"], "reason_code": ["unknown_value"],
    ...                   "field": ["urgency"], "reason": ["unknown urgency '13955550004'"]})
    >>> publishable(r, "case_id").to_dict("records")
    [{'record_id': 'c1', 'field': 'urgency', 'reason_code': 'unknown_value', 'reason': "a value is not in the field's vocabulary"}]
    """
    ids = rejects[id_column] if id_column in rejects else pd.Series(rejects.index, index=rejects.index)
    codes = rejects["reason_code"].astype("string")
    return pd.DataFrame({
        "record_id": mask_personal(ids.astype("string").to_numpy()).to_numpy(),
        "field": rejects["field"].astype("string").to_numpy() if "field" in rejects else pd.NA,
        "reason_code": codes.to_numpy(),
        "reason": codes.map(lambda c: CODES.get(c, "") if isinstance(c, str) else "").to_numpy(),
    })
