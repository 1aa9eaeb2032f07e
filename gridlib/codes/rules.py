"""Responsibility rules per class: who answers first, the owner or the territory."""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

from gridlib.codes.catalogue import (
    DEFAULT_EDITION,
    catalogue,
    check_edition,
    data_path,
)
from gridlib.codes.validate import normalize_class_code
from gridlib.errors import CodeError, InputError

RULES = ("owner_first", "territory_first")

#: Class-code width per catalogue edition: a case's edition follows from the form of its code.
CODE_WIDTH = {"gbt47678-2026": 5, "cjt214-2007": 4}


@functools.cache
def _defaults() -> pd.DataFrame:
    return pd.read_csv(data_path("responsibility_rules.csv"), dtype=str, keep_default_na=False)


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


def edition_of_class(class_codes: pd.Series | np.ndarray | list[str]) -> np.ndarray:
    """The catalogue edition of each class code, from its form (5 digits: 2026, 4 digits: 2007).

    >>> edition_of_class(["06012", "0102", "6"]).tolist()
    ['gbt47678-2026', 'cjt214-2007', '']
    """
    codes = pd.Series(np.asarray(class_codes, dtype=object)).astype("string").str.strip()
    ok = codes.str.fullmatch(r"\d+").fillna(False).to_numpy()
    width = codes.str.len().fillna(0).to_numpy()
    out = np.full(len(codes), "", dtype=object)
    for edition, w in CODE_WIDTH.items():
        out[ok & (width == w)] = edition
    return out


@functools.cache
def _edition_rules(edition: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """'class|kind' -> rule for the edition's classes, and its (kind, major) and kind defaults.

    The class rules are :func:`responsibility_rules`' (the kind and major class's default, else the
    kind's), looked up in the two small dicts rather than by its table merges (~0.1 s of the first
    assignment in a process).
    """
    check_edition(edition)
    d = _defaults()
    d = d[d["edition"] == edition]
    major = {f"{k}|{m}": r for k, m, r in zip(d["kind"], d["major_code"], d["rule"], strict=True) if m != "*"}
    general = {k: r for k, m, r in zip(d["kind"], d["major_code"], d["rule"], strict=True) if m == "*"}
    cat = catalogue(edition)
    exact = {}
    for code, kind, major_code in zip(cat["class_code"], cat["kind"], cat["major_code"], strict=True):
        rule = major.get(f"{kind}|{major_code}", general.get(kind))
        if rule is None:
            raise CodeError(f"no responsibility rule for some classes of {edition}")
        exact[f"{code}|{kind}"] = rule
    return exact, major, general


def rule_of(class_codes: pd.Series | np.ndarray | list[str], kinds: pd.Series | np.ndarray | list[str],
            editions: pd.Series | np.ndarray | list[str] | None = None) -> np.ndarray:
    """The responsibility rule of each case, by its class, kind and edition.

    The edition is the code's own (:func:`edition_of_class`) unless given; the rule is the
    edition's :func:`responsibility_rules` for catalogued classes, and the edition's default for
    the kind (and major class) otherwise. A code of no edition gets the kind's general rule.

    >>> rule_of(["0102", "01001", "06012"], ["event", "event", "event"]).tolist()
    ['territory_first', 'owner_first', 'territory_first']
    """
    codes = np.asarray(class_codes, dtype=object).astype(str)
    kinds_arr = np.asarray(kinds, dtype=object).astype(str)
    eds = edition_of_class(codes) if editions is None else np.asarray(editions, dtype=object)
    # one lookup per distinct (class, kind, edition): a night names a few hundred of them
    key = np.zeros(len(codes), dtype=np.int64)
    for column in (codes, kinds_arr, np.asarray(eds, dtype=object)):
        code, uniques = pd.factorize(column, use_na_sentinel=False)
        key = key * max(len(uniques), 1) + code
    first, inverse = np.unique(key, return_index=True, return_inverse=True)[1:]
    rules = np.empty(len(first), dtype=object)
    for j, i in enumerate(first.tolist()):
        c, k, edition = codes[i], kinds_arr[i], eds[i]
        rule = None
        if edition in CODE_WIDTH:  # most specific first: the exact class, then its 大类, then the kind's rule
            exact, major, general = _edition_rules(edition)
            rule = exact.get(f"{c}|{k}")
            rule = major.get(f"{k}|{c[:2]}") if rule is None else rule
            rule = general.get(k) if rule is None else rule
        rules[j] = ("owner_first" if k == "component" else "territory_first") if rule is None else rule
    return rules[inverse.ravel()] if len(codes) else np.array([], dtype=object)
