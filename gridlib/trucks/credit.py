"""Credit points (信用等级扣分) per vehicle and per company from violations.

The deduction table is data: ``gridlib/trucks/deductions.csv`` (``type``, ``points``,
``class_code``, ``urgency``, ``name_zh``, ``description``). Pass another table to use
local rules.

>>> import pandas as pd
>>> v = pd.DataFrame({"violation_id": ["a", "b", "c"], "vehicle_id": ["V1", "V1", "V2"],
...     "company": ["K", "K", "K"], "type": ["deviation", "no_permit", "deviation"]})
>>> c = credit(v)
>>> c.vehicles[["vehicle_id", "points", "n_violations"]].to_dict("records")
[{'vehicle_id': 'V1', 'points': 9, 'n_violations': 2}, {'vehicle_id': 'V2', 'points': 3, 'n_violations': 1}]
>>> c.companies[["company", "points", "n_vehicles", "violation_ids"]].to_dict("records")
[{'company': 'K', 'points': 12, 'n_vehicles': 2, 'violation_ids': 'a,b,c'}]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from gridlib.errors import InputError

__all__ = ["Credit", "credit", "load_deductions", "VIOLATION_TYPES"]

VIOLATION_TYPES = (
    "deviation", "no_permit", "outside_hours", "unpermitted_stop", "restricted_zone", "speeding", "gps_silence",
)


@functools.lru_cache(maxsize=1)
def _bundled_deductions() -> pd.DataFrame:
    with resources.files("gridlib.trucks").joinpath("deductions.csv").open("rb") as fh:
        return pd.read_csv(fh, dtype={"class_code": str})


def load_deductions(table: pd.DataFrame | str | None = None) -> pd.DataFrame:
    """Return the deduction table (the bundled one by default), checked.

    >>> row = load_deductions().set_index("type").loc["unpermitted_stop"]
    >>> int(row["points"]), row["class_code"]
    (6, '06011')
    """
    if table is None:
        table = _bundled_deductions()  # read once per process; never handed out (copied below)
    elif not isinstance(table, pd.DataFrame):
        table = pd.read_csv(table, dtype={"class_code": str})
    missing = {"type", "points"} - set(table.columns)
    if missing:
        raise InputError(f"deduction table: missing columns {sorted(missing)}")
    unknown = set(table["type"]) - set(VIOLATION_TYPES)
    if unknown:
        raise InputError(f"deduction table: unknown violation types {sorted(unknown)}; known: {VIOLATION_TYPES}")
    out = table.copy()
    out["points"] = pd.to_numeric(out["points"], errors="raise").astype("int64")
    return out.reset_index(drop=True)


@dataclass
class Credit:
    """Points per vehicle and per company, with the violations behind each total.

    Examples
    --------
    >>> import pandas as pd
    >>> c = credit(pd.DataFrame({"violation_id": ["v1"], "vehicle_id": ["沪D1"], "company": [None],
    ...     "type": ["no_permit"]}))
    >>> c.vehicles[["vehicle_id", "company", "points"]].values.tolist()
    [['沪D1', '(unknown)', 6]]
    """

    vehicles: pd.DataFrame
    companies: pd.DataFrame


def credit(violations: pd.DataFrame, deductions: pd.DataFrame | str | None = None) -> Credit:
    """Total deductions per vehicle and per company.

    Parameters
    ----------
    violations : pandas.DataFrame
        ``violation_id``, ``vehicle_id``, ``company``, ``type`` (from :func:`gridlib.trucks.check`),
        for whatever period the caller selected.
    deductions : DataFrame or path, optional
        Deduction table; the bundled one by default. Types missing from it cost 0 points.

    Returns
    -------
    Credit
        ``vehicles``: ``vehicle_id``, ``company``, ``points``, ``n_violations``, one column
        per violation type with its count, ``violation_ids`` (comma-separated, in time order).
        ``companies``: ``company``, ``points``, ``n_vehicles``, ``n_violations``, ``violation_ids``.
        Both sorted by points (highest first), then id.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"violation_id": ["v1", "v2", "v3"], "vehicle_id": ["沪D1", "沪D1", "沪D2"],
    ...     "company": ["K", "K", "L"], "type": ["deviation", "outside_hours", "deviation"]})
    >>> c = credit(v)   # bundled table: deviation 3 points, outside_hours 2
    >>> c.vehicles[["vehicle_id", "points", "n_violations", "violation_ids"]].values.tolist()
    [['沪D1', 5, 2, 'v1,v2'], ['沪D2', 3, 1, 'v3']]
    >>> c.companies[["company", "points"]].values.tolist()
    [['K', 5], ['L', 3]]
    """
    table = load_deductions(deductions)
    pts = dict(zip(table["type"], table["points"], strict=True))
    v = pd.DataFrame(violations)
    company = v["company"].astype("object").where(v["company"].notna(), "(unknown)").to_numpy(dtype=object)
    kind = v["type"].to_numpy(dtype=object)
    points = np.array([pts.get(t, 0) for t in kind], dtype=np.int64)
    ids = v["violation_id"].astype(str).to_numpy(dtype=object)
    veh_codes, veh_names = pd.factorize(v["vehicle_id"], sort=True)
    comp_codes, comp_names = pd.factorize(pd.Series(company), sort=True)
    type_codes = pd.Categorical(kind, categories=list(VIOLATION_TYPES)).codes
    nv, nc = len(veh_names), len(comp_names)

    first_row = np.full(nv, len(v), dtype=np.int64)   # each vehicle's first violation (its company)
    np.minimum.at(first_row, veh_codes, np.arange(len(v)))
    veh = pd.DataFrame({
        "vehicle_id": pd.Series(veh_names, dtype="str"),
        "company": pd.Series(company[first_row], dtype=object),
        "points": np.bincount(veh_codes, weights=points, minlength=nv).astype("int64"),
        "n_violations": np.bincount(veh_codes, minlength=nv).astype("int64"),
    })
    known = type_codes >= 0
    per_type = np.bincount(veh_codes[known] * len(VIOLATION_TYPES) + type_codes[known],
                           minlength=nv * len(VIOLATION_TYPES)).reshape(nv, len(VIOLATION_TYPES))
    for k, t in enumerate(VIOLATION_TYPES):
        veh[t] = per_type[:, k].astype("int64")
    veh["violation_ids"] = pd.Series(_joined(ids, veh_codes, nv), dtype="str")
    pair = np.unique(comp_codes * max(nv, 1) + veh_codes)
    comp = pd.DataFrame({
        "company": pd.Series(comp_names, dtype="str" if nc else object),
        "points": np.bincount(comp_codes, weights=points, minlength=nc).astype("int64"),
        "n_vehicles": np.bincount(pair // max(nv, 1), minlength=nc).astype("int64"),
        "n_violations": np.bincount(comp_codes, minlength=nc).astype("int64"),
        "violation_ids": pd.Series(_joined(ids, comp_codes, nc), dtype="str"),
    })
    veh = veh.sort_values(["points", "vehicle_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    comp = comp.sort_values(["points", "company"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return Credit(veh, comp)


def _joined(ids: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Comma-joined ids per group, in input order (one join per group; violations are few)."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n + 1))
    return np.array([",".join(ids[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)], dtype=object)
