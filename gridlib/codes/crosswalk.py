"""Crosswalk between CJ/T 214-2007 and GB/T 47678.5-2026 class codes.

The 2007 → 2026 direction is a hand-checked table shipped as data
(``data/crosswalk_cjt214-2007_gbt47678-2026.csv``): every 2007 class either maps
to one 2026 class or is listed as ``split`` (with its candidates) or ``unmapped``
(with the reason). The 2026 → 2007 direction is derived from the same table, so
the two directions cannot disagree.

Relations: ``same``, ``renamed``, ``moved`` (other 大类), ``merged`` (the target
class is broader), ``split`` (several targets; no single answer), ``partial``
(the target is narrower than the source; no exact answer), ``ambiguous`` (several
sources), ``unmapped``, ``new`` (no counterpart in the older edition).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from gridlib.codes.catalogue import catalogue, check_edition, data_path
from gridlib.codes.validate import check_codes
from gridlib.errors import CodeError

OLD, NEW = "cjt214-2007", "gbt47678-2026"
MAPPED = ("same", "renamed", "moved", "merged")
COLUMNS = ["from_edition", "from_kind", "from_code", "from_name_zh", "to_edition", "to_kind",
           "to_code", "to_name_zh", "relation", "candidates", "note"]


@functools.cache
def _forward() -> pd.DataFrame:
    df = pd.read_csv(data_path(f"crosswalk_{OLD}_{NEW}.csv"), dtype=str, keep_default_na=False)
    df = df.rename(columns={"kind": "from_kind"})
    df["to_kind"] = np.where(df["to_code"] != "", df["from_kind"], "")
    return df[COLUMNS]


@functools.cache
def _backward() -> pd.DataFrame:
    fwd = _forward()
    old_names = catalogue(OLD).set_index(["kind", "class_code"])["name_zh"]
    rows = []
    for _, r in catalogue(NEW).iterrows():  # 403 classes, once per process
        kind, code = r["kind"], r["class_code"]
        src_kind = kind
        note_extra = ""
        if kind == "event" and int(r["major_code"]) <= 5:
            src_kind = "component"  # 事项 for a component ↔ a 2007 component case
            note_extra = "a 2026 事项 for a component is a component case in CJ/T 214-2007"
        f = fwd[fwd["from_kind"] == src_kind]
        direct = f[f["to_code"] == code]
        via = f[f["candidates"].str.split().apply(lambda c, code=code: code in c)]
        sources = pd.concat([direct, via])
        rel, to, cands, note = "new", "", "", "no corresponding CJ/T 214-2007 class"
        if len(sources) == 1:
            s = sources.iloc[0]
            if len(direct) == 1 and s["relation"] in ("same", "renamed", "moved"):
                rel, to, note = s["relation"], s["from_code"], s["note"]
            elif len(direct) == 1:  # merged: the 2026 class is broader than the 2007 one
                rel, cands = "partial", s["from_code"]
                note = f"2026 class is broader than {s['from_code']} {s['from_name_zh']}; no exact 2007 class"
            else:  # the 2007 class was split: going back is a merge
                rel, to, note = "merged", s["from_code"], f"part of 2007 class {s['from_code']} {s['from_name_zh']}"
        elif len(sources) > 1:
            rel = "ambiguous"
            cands = " ".join(sources["from_code"])
            note = "several 2007 classes: " + ", ".join(sources["from_code"] + " " + sources["from_name_zh"])
        if note_extra:
            note = f"{note}; {note_extra}" if note else note_extra
        rows.append({
            "from_edition": NEW, "from_kind": kind, "from_code": code, "from_name_zh": r["name_zh"],
            "to_edition": OLD, "to_kind": src_kind if to else "", "to_code": to,
            "to_name_zh": str(old_names.get((src_kind, to), "")) if to else "",
            "relation": rel, "candidates": cands, "note": note,
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def crosswalk(from_edition: str = OLD, to_edition: str = NEW) -> pd.DataFrame:
    """The crosswalk table from one edition to the other, one row per source class.

    Examples
    --------
    >>> import gridlib as gl
    >>> cw = gl.codes.crosswalk()
    >>> cw.set_index(["from_kind", "from_code"]).loc[("component", "0101"), "to_code"]
    '01001'
    >>> int(cw.relation.value_counts()["unmapped"])
    15
    """
    check_edition(from_edition)
    check_edition(to_edition)
    if (from_edition, to_edition) == (OLD, NEW):
        return _forward().copy()
    if (from_edition, to_edition) == (NEW, OLD):
        return _backward().copy()
    raise CodeError(f"no crosswalk from {from_edition} to itself")


def translate(series: pd.Series | list, from_edition: str = OLD, to_edition: str = NEW,
              kind: str = "component") -> pd.DataFrame:
    """Translate class codes between editions, row by row (vectorised).

    Parameters
    ----------
    series : Series or list
        Class codes of ``from_edition`` (lost leading zeros are restored).
    from_edition, to_edition : str
        ``cjt214-2007`` and ``gbt47678-2026``, either way round.
    kind : {"component", "event"}
        Kind of the input classes (in 2007 component and event codes overlap).

    Returns
    -------
    DataFrame
        Aligned with the input: ``from_code`` (normalised), ``to_code`` (missing when
        there is no single answer), ``to_kind``, ``to_name_zh``, ``relation``,
        ``candidates`` and ``reason`` (why there is no ``to_code``; empty when mapped).

    Examples
    --------
    >>> import gridlib as gl
    >>> t = gl.codes.translate(["0101", 117, "0502"], kind="component")
    >>> t.to_code.tolist()
    ['01001', nan, nan]
    >>> t.relation.tolist()
    ['renamed', 'split', 'unmapped']
    >>> gl.codes.translate(["06012"], "gbt47678-2026", "cjt214-2007", kind="event").to_code.tolist()
    ['0104']
    """
    if kind not in ("component", "event"):
        raise CodeError(f"kind must be 'component' or 'event', not {kind!r}")
    table = crosswalk(from_edition, to_edition)
    table = table[table["from_kind"] == kind]
    s = series if isinstance(series, pd.Series) else pd.Series(series, dtype=object)
    kind_arg = "event_class" if kind == "event" else "class"
    res = check_codes(s, kind=kind_arg, edition=from_edition, log_summary=False)
    if kind == "component":  # "class" accepts events too: restrict to component classes
        comp = set(catalogue(from_edition, "component")["class_code"])
        bad_kind = res["valid"] & ~res["normalized"].isin(comp)
        res.loc[bad_kind, "reason"] = "not a component class of " + from_edition + ": " + res.loc[bad_kind, "normalized"]
        res.loc[bad_kind, "valid"] = False
    codes = res["normalized"].where(res["valid"])
    merged = pd.DataFrame({"from_code": codes.to_numpy()}).merge(
        table[["from_code", "to_code", "to_kind", "to_name_zh", "relation", "candidates", "note"]],
        on="from_code", how="left")
    out = pd.DataFrame(index=s.index)
    out["from_code"] = codes.to_numpy()
    mapped = merged["relation"].isin(MAPPED).to_numpy() & (merged["to_code"] != "").to_numpy()
    out["to_code"] = merged["to_code"].where(mapped).to_numpy()
    out["to_kind"] = merged["to_kind"].where(mapped).to_numpy()
    out["to_name_zh"] = merged["to_name_zh"].where(mapped).to_numpy()
    rel = merged["relation"].fillna("invalid")
    out["relation"] = rel.to_numpy()
    out["candidates"] = merged["candidates"].fillna("").to_numpy()
    reason = np.where(mapped, "", merged["relation"].fillna("") + ": " + merged["note"].fillna(""))
    invalid = ~res["valid"].to_numpy()
    reason = np.where(invalid, "invalid code: " + res["reason"].to_numpy(dtype=object), reason)
    out["reason"] = pd.array(reason, dtype="str")
    return out
