"""Responsibility rules per class: who answers first, the owner or the territory."""

from __future__ import annotations

import functools
import os

import pandas as pd

from gridlib.codes.catalogue import (
    DEFAULT_EDITION,
    _data_path,
    catalogue,
    check_edition,
    normalize_class_code,
)
from gridlib.errors import CodeError, InputError

RULES = ("owner_first", "territory_first")


@functools.cache
def _defaults() -> pd.DataFrame:
    return pd.read_csv(_data_path("responsibility_rules.csv"), dtype=str, keep_default_na=False)


def responsibility_rules(
    edition: str = DEFAULT_EDITION,
    overrides: str | os.PathLike | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The responsibility rule of every class of an edition.

    Components are "owner first, then territory" (先属主、后属地) and events
    "territory first, then owner" (先属地、后属主). In the 2026 edition the 事项
    01xxx–05xxx are faults of components and follow the component rule [INF].

    Parameters
    ----------
    edition : str
        Catalogue edition (registered city extensions included).
    overrides : path or DataFrame, optional
        A city's exceptions: columns ``class_code``, ``rule`` and optionally ``kind``
        (without it the rule applies to every class with that code).

    Returns
    -------
    DataFrame
        ``class_code``, ``kind``, ``rule`` (``owner_first`` | ``territory_first``),
        ``basis`` (where the rule comes from) and ``name_zh``.

    Raises
    ------
    CodeError
        An override names an unknown class or an unknown rule (the row is named).

    Examples
    --------
    >>> import gridlib as gl
    >>> r = gl.codes.responsibility_rules()
    >>> r.set_index(["class_code", "kind"]).loc[("06012", "event"), "rule"]
    'territory_first'
    >>> r.set_index(["class_code", "kind"]).loc[("01001", "component"), "rule"]
    'owner_first'
    """
    check_edition(edition)
    cat = catalogue(edition)[["class_code", "kind", "major_code", "name_zh"]]
    d = _defaults()
    d = d[d["edition"] == edition]
    specific = d[d["major_code"] != "*"][["kind", "major_code", "rule", "basis"]]
    general = d[d["major_code"] == "*"][["kind", "rule", "basis"]]
    out = cat.merge(specific, on=["kind", "major_code"], how="left")
    gen = cat.merge(general, on="kind", how="left")
    out["rule"] = out["rule"].fillna(gen["rule"])
    out["basis"] = out["basis"].fillna(gen["basis"])
    if out["rule"].isna().any():
        raise CodeError(f"no responsibility rule for some classes of {edition}")
    out = out[["class_code", "kind", "rule", "basis", "name_zh"]]
    if overrides is not None:
        out = _apply_overrides(out, overrides, edition)
    return out.reset_index(drop=True)


def _apply_overrides(rules: pd.DataFrame, overrides: str | os.PathLike | pd.DataFrame, edition: str) -> pd.DataFrame:
    if isinstance(overrides, pd.DataFrame):
        ov, origin = overrides.copy(), "overrides"
    else:
        origin = os.fspath(overrides)
        try:
            ov = pd.read_csv(origin, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read responsibility overrides {origin}: {exc}") from exc
    for col in ("class_code", "rule"):
        if col not in ov.columns:
            raise InputError(f"{origin}: missing column {col!r}")
    rules = rules.copy()
    for i, r in ov.reset_index(drop=True).iterrows():  # a city's exceptions: a handful of rows
        where = f"{origin} row {i + 2}" if origin != "overrides" else f"overrides row {i}"
        try:
            code = normalize_class_code(r["class_code"], edition)
        except CodeError as exc:
            raise CodeError(f"{where}: {exc}") from None
        rule = str(r["rule"]).strip()
        if rule not in RULES:
            raise CodeError(f"{where}: rule {rule!r} is not one of {', '.join(RULES)}")
        hit = rules["class_code"] == code
        kind = str(r.get("kind", "") or "").strip()
        if kind:
            hit &= rules["kind"] == kind
        if not hit.any():
            raise CodeError(f"{where}: class {code}{' (' + kind + ')' if kind else ''} is not in the catalogue")
        rules.loc[hit, "rule"] = rule
        rules.loc[hit, "basis"] = f"city override ({where})"
    return rules
