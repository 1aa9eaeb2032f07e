"""Evaluation scores (综合指标值) and grades A–E for regions, departments and positions.

Weights, score bands and grades are tables (``data/score_weights.csv``, ``score_bands.csv``,
``score_grades.csv``), **implementation-derived** (STANDARDS.md §5.3: one open implementation,
not verified against GB/T 30428.4), with that implementation's bugs fixed:

1. 监督员: 漏报率 enters as ``100 − 漏报率`` (the implementation added the raw rate, so
   missing more problems raised the score).
2. 受理员: the 35 % component uses 核查按时派发率 (the implementation reused 核实按时派发率).
3. 专业部门: 案件量分值 is banded on the department's filed cases (立案数); the
   implementation passed 返工数.
4. 区域: weights 10/20/30/40 % (the implementation's 10/20/30/10 % sum to 70 %).
5. 区域: 监督举报率 enters as ``100 − rate`` (more public reports = worse) [INF].

Objects and their inputs (columns of an :func:`gridlib.cases.indicators` table, grouped by
the object's id column — e.g. ``grid_code``, ``responsible_unit``, a supervisor id):

* ``region`` — public_report_rate, filed (banded by area class 1 一类 / 2 二类), closure_rate,
  ontime_closure_rate;
* ``department`` — filed, closure_rate, ontime_disposal_rate, rework_rate;
* ``supervisor`` 监督员 — valid_report_rate, missed_report_rate, ontime_verification_rate,
  ontime_check_rate;
* ``acceptor`` 受理员 — accepted, verify_dispatch_ontime_rate, check_dispatch_ontime_rate
  (not derivable from a case log; supply them);
* ``shift_leader`` 值班长 — ontime_filing_rate, accurate_filing_rate, closed_ontime_share;
* ``dispatcher`` 派遣员 — dispatched, ontime_dispatch_rate, accurate_dispatch_rate.

>>> import pandas as pd
>>> dept = pd.DataFrame({"responsible_unit": ["环卫所", "市政所"], "filed": [40, 600],
...                      "closure_rate": [0.96, 0.90], "ontime_disposal_rate": [0.92, 0.70], "rework_rate": [0.02, 0.10]})
>>> scores(dept, "department")[["responsible_unit", "score", "grade"]].values.tolist()
[['环卫所', 95.8, 'A'], ['市政所', 79.0, 'B']]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridlib.errors import InputError
from gridlib.types import ArrayLike, TableSource

DATA = Path(__file__).parent / "data"
OBJECTS = ("region", "department", "supervisor", "acceptor", "shift_leader", "dispatcher")


def load_tables(
    weights: TableSource | None = None, bands: TableSource | None = None, grades: TableSource | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Weights, bands and grades tables (paths or DataFrames; ``None`` = bundled defaults).

    >>> w, b, g = load_tables()
    >>> w.groupby("object")["weight"].sum().unique().tolist()
    [100.0]
    """
    def read(x: Any, name: str) -> pd.DataFrame:
        return x.copy() if isinstance(x, pd.DataFrame) else pd.read_csv(DATA / name if x is None else x)

    w, b, g = read(weights, "score_weights.csv"), read(bands, "score_bands.csv"), read(grades, "score_grades.csv")
    for table, cols, name in ((w, {"object", "input", "transform", "weight"}, "weights"),
                              (b, {"band", "from", "points"}, "bands"), (g, {"grade", "min_score"}, "grades")):
        if cols - set(table.columns):
            raise InputError(f"score {name} table lacks column(s) {sorted(cols - set(table.columns))}")
    w["weight"] = w["weight"].astype(float)
    return w, b.sort_values(["band", "from"]).reset_index(drop=True), g.sort_values("min_score", ascending=False)


def band_points(values: ArrayLike, band: str, bands: pd.DataFrame | None = None) -> np.ndarray:
    """Points of *values* in a band table: the points of the highest ``from`` not above the value.

    >>> band_points([0, 2, 3, 12], "region_filed_1").tolist()
    [100.0, 90.0, 75.0, 0.0]
    """
    table = load_tables()[1] if bands is None else bands.sort_values(["band", "from"])
    rows = table[table["band"] == band]
    if rows.empty:
        raise InputError(f"no score band named {band!r}")
    v = np.asarray(values, dtype=float)
    idx = np.searchsorted(rows["from"].to_numpy(dtype=float), v, side="right") - 1
    pts = rows["points"].to_numpy(dtype=float)[np.clip(idx, 0, None)]
    return np.where(np.isnan(v) | (idx < 0), np.nan, pts)


def grade(score: ArrayLike, grades: pd.DataFrame | None = None) -> np.ndarray:
    """Grade letters for scores (A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E below); None for NaN.

    >>> grade([95, 75, 59.9, 10, float("nan")]).tolist()
    ['A', 'B', 'D', 'E', None]
    """
    table = load_tables()[2] if grades is None else grades.sort_values("min_score", ascending=False)
    s = np.asarray(score, dtype=float)
    out = np.full(s.shape, None, dtype=object)
    for letter, low in zip(table["grade"][::-1], table["min_score"][::-1], strict=True):
        out[s >= low] = letter
    return out


def scores(
    table: pd.DataFrame, evaluation_object: str, *, area_class: int | str = 1, weights: TableSource | None = None,
    bands: TableSource | None = None, grades: TableSource | None = None,
) -> pd.DataFrame:
    """Composite score (0–100) and grade for each row of an indicators table.

    Parameters
    ----------
    table
        One row per evaluated region / department / person with the input columns of
        *evaluation_object* (rates as fractions, counts as counts).
    evaluation_object
        One of :data:`OBJECTS`.
    area_class
        For ``region``: 1 (一类) or 2 (二类) for every row, or the name of a column holding it.
    weights, bands, grades
        Replacement tables (paths or DataFrames) with the columns of the bundled ones.

    Returns
    -------
    DataFrame
        *table* plus ``score_<input>`` per component (0–100 points before weighting),
        ``score`` (weighted sum, NaN when any component is missing) and ``grade``.

    Examples
    --------
    >>> import pandas as pd
    >>> dept = pd.DataFrame({"responsible_unit": ["环卫所", "市政所"], "filed": [40, 600],
    ...     "closure_rate": [0.96, 0.90], "ontime_disposal_rate": [0.92, 0.70], "rework_rate": [0.02, 0.10]})
    >>> s = scores(dept, "department")
    >>> s[["responsible_unit", "score_closure_rate", "score", "grade"]].values.tolist()
    [['环卫所', 96.0, 95.8, 'A'], ['市政所', 90.0, 79.0, 'B']]
    """
    if evaluation_object not in OBJECTS:
        raise InputError(f"unknown evaluation object {evaluation_object!r}; use one of {', '.join(OBJECTS)}")
    w, b, g = load_tables(weights, bands, grades)
    rows = w[w["object"] == evaluation_object]
    if rows.empty:
        raise InputError(f"the weights table has no rows for {evaluation_object!r}")
    missing = [c for c in rows["input"] if c not in table]
    if missing:
        raise InputError(f"{evaluation_object} scores need column(s) {missing}")
    out = table.copy()
    total = np.zeros(len(out))
    for row in rows.itertuples(index=False):  # a handful of components
        v = out[row.input].to_numpy(dtype=float)
        if row.transform == "rate":
            pts = v * 100.0
        elif row.transform == "inverse_rate":
            pts = 100.0 - v * 100.0
        elif str(row.transform).startswith("band:"):
            name = str(row.transform)[5:]
            if "{area_class}" in name:
                cls = out[area_class].astype(str).to_numpy() if isinstance(area_class, str) and area_class in out \
                    else np.full(len(out), str(area_class))
                pts = np.full(len(out), np.nan)
                for c in np.unique(cls):
                    sel = cls == c
                    pts[sel] = band_points(v[sel], name.replace("{area_class}", c), b)
            else:
                pts = band_points(v, name, b)
        else:
            raise InputError(f"unknown score transform {row.transform!r} for {row.input}")
        out[f"score_{row.input}"] = pts
        total = total + pts * row.weight / 100.0
    out["score"] = np.round(total, 2)
    out["grade"] = grade(out["score"], g)
    return out
