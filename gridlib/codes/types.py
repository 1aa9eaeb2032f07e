"""Code value types: :class:`GridCode`, :class:`ComponentId` and :class:`MatterCode`.

Parsing goes through :func:`gridlib.codes.check_codes`, so a single code and a column
of a million codes obey exactly the same rules and give the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridlib.codes.admin import LIST_DATE, county_table
from gridlib.codes.catalogue import CLASS_DIGITS, DEFAULT_EDITION, check_edition
from gridlib.codes.validate import STREET_TYPES, check_codes
from gridlib.errors import CodeError


def _one(code: object, kind: str, what: str, **kw: object) -> str:
    res = check_codes(pd.Series([code], dtype=object), kind=kind, log_summary=False, **kw)
    if not bool(res["valid"].iloc[0]):
        raise CodeError(f"{what} {code!r}: {res['reason'].iloc[0]}")
    return str(res["normalized"].iloc[0])


@dataclass(frozen=True)
class GridCode:
    """A unit-grid code (单元网格标识码): county + street + community + grid sequence.

    Layouts: ``"15"`` 6+3+3+3 (default), ``"14"`` 6+3+3+2 (CJ/T 213; sequence ``00``
    is the community-level grid) and ``"15an"`` 15 characters 0-9/A-Z (GB/T 47678.3;
    its internal structure is not published, the parts are cut 6+3+3+3 by position).

    Examples
    --------
    >>> from gridlib.codes import GridCode
    >>> g = GridCode.parse("410105001003007")
    >>> g.county, g.street, g.community, g.sequence, g.street_type
    ('410105', '001', '003', '007', 'subdistrict')
    >>> g.community_code, g.street_code
    ('410105001003', '410105001')
    >>> GridCode.build("410105001003", 8).format()
    '410105001003008'
    >>> GridCode.parse("41010500100307").layout
    '14'
    """

    county: str
    street: str
    community: str
    sequence: str
    layout: str = "15"

    @classmethod
    def parse(cls, code: object, layout: str = "auto", *, check_county: bool = True) -> GridCode:
        """Parse a grid code; raise :class:`~gridlib.errors.CodeError` with the reason if invalid."""
        s = _one(code, "grid", "grid code", layout=layout, check_county=check_county)
        lay = layout if layout != "auto" else str(len(s))
        return cls(s[:6], s[6:9], s[9:12], s[12:], lay)

    @classmethod
    def build(cls, community_code: str, sequence: int | str, layout: str = "15") -> GridCode:
        """The grid code of grid number ``sequence`` inside a 12-digit community code.

        Cheap enough to call once per grid; for whole columns use :meth:`build_many`.
        """
        if layout not in ("15", "14"):
            raise CodeError(f"GridCode.build: layout must be '15' or '14', not {layout!r}")
        cc = str(community_code)
        if len(cc) != 12 or not cc.isascii() or not cc.isdigit():
            raise CodeError(f"community code {community_code!r}: expected 12 digits (6 county + 3 street + 3 community)")
        width = 3 if layout == "15" else 2
        try:
            seq = int(sequence)
        except (TypeError, ValueError):
            raise CodeError(f"grid sequence {sequence!r} is not an integer") from None
        low = 1 if layout == "15" else 0
        if not low <= seq < 10**width:
            raise CodeError(f"grid sequence {seq} outside {low:0{width}d}–{10**width - 1} for layout {layout}")
        if not county_table()[int(cc[:6])]:
            raise CodeError(f"community code {cc}: county {cc[:6]} not in the GB/T 2260 list (as of {LIST_DATE})")
        if not 1 <= int(cc[6:9]) <= 599:
            raise CodeError(f"community code {cc}: street code {cc[6:9]} outside 001–599")
        if cc[9:12] == "000":
            raise CodeError(f"community code {cc}: community code 000 where one is required")
        return cls(cc[:6], cc[6:9], cc[9:12], f"{seq:0{width}d}", layout)

    @staticmethod
    def build_many(community_codes: pd.Series, sequences: pd.Series | np.ndarray, layout: str = "15") -> pd.Series:
        """Vectorised :meth:`build`: grid code strings for aligned community codes and sequences.

        Raises :class:`~gridlib.errors.CodeError` naming the first invalid rows.

        >>> import pandas as pd
        >>> GridCode.build_many(pd.Series(["410105001003", "410105001004"]), [1, 2]).tolist()
        ['410105001003001', '410105001004002']
        """
        if layout not in ("15", "14"):
            raise CodeError(f"GridCode.build_many: layout must be '15' or '14', not {layout!r}")
        cc = pd.Series(community_codes).astype("str").reset_index(drop=True)
        seq = np.asarray(sequences)
        if len(seq) != len(cc):
            raise CodeError(f"{len(cc)} community codes but {len(seq)} sequences")
        width = 3 if layout == "15" else 2
        if not np.issubdtype(seq.dtype, np.integer) or (len(seq) and (seq.min() < 0 or seq.max() >= 10**width)):
            raise CodeError(f"grid sequences must be integers in 0–{10**width - 1} for layout {layout}")
        codes = cc + pd.Series(seq).astype("str").str.zfill(width)
        res = check_codes(codes, kind="grid", layout=layout, log_summary=False)
        bad = np.flatnonzero(~res["valid"].to_numpy())
        if len(bad):
            shown = "; ".join(f"row {i}: {codes.iloc[i]!r} {res['reason'].iloc[i]}" for i in bad[:3])
            raise CodeError(f"{len(bad)} invalid grid codes built ({shown})")
        out = pd.Series(codes.to_numpy(), index=pd.Series(community_codes).index, dtype="str")
        return out

    @property
    def community_code(self) -> str:
        """12-digit code of the community (社区/村) the grid belongs to."""
        return self.county + self.street + self.community

    @property
    def street_code(self) -> str:
        """9-digit code of the street/town (街道/镇/乡)."""
        return self.county + self.street

    @property
    def street_type(self) -> str:
        """``subdistrict`` (街道 001–099), ``town`` (镇), ``township`` (乡) or ``other`` (400–599)."""
        return _street(self.street)[0]

    @property
    def street_type_zh(self) -> str:
        """Chinese name of the street type, e.g. ``街道``."""
        return _street(self.street)[1]

    def format(self) -> str:
        """The code as a string."""
        return self.county + self.street + self.community + self.sequence

    def __str__(self) -> str:
        return self.format()


def _street(block: str) -> tuple[str, str]:
    if block.isdigit():
        v = int(block)
        for lo, hi, key, zh in STREET_TYPES:
            if lo <= v <= hi:
                return key, zh
    return "unknown", "未知"


@dataclass(frozen=True)
class ComponentId:
    """A component identifier (部件标识码): county + class code + 6-digit sequence.

    17 digits (6 + 2 + 3 + 6) in GB/T 47678.5-2026, 16 digits (6 + 2 + 2 + 6) in
    CJ/T 214-2007.

    Examples
    --------
    >>> from gridlib.codes import ComponentId
    >>> c = ComponentId.parse("41010501004000045")
    >>> c.county, c.class_code, c.sequence, c.edition
    ('410105', '01004', '000045', 'gbt47678-2026')
    >>> ComponentId.parse("4101050102000123", edition=None).edition
    'cjt214-2007'
    >>> ComponentId.build("410105", "01004", 46).format()
    '41010501004000046'
    """

    county: str
    class_code: str
    sequence: str
    edition: str = DEFAULT_EDITION

    @classmethod
    def parse(cls, code: object, edition: str | None = DEFAULT_EDITION, *, check_county: bool = True) -> ComponentId:
        """Parse an identifier; ``edition=None`` accepts both layouts (by length)."""
        s = _one(code, "component", "component id", edition=edition, check_county=check_county)
        ed = "gbt47678-2026" if len(s) == 17 else "cjt214-2007"
        w = CLASS_DIGITS[ed]
        return cls(s[:6], s[6:6 + w], s[6 + w:], ed)

    @classmethod
    def build(cls, county: str, class_code: str, sequence: int, edition: str = DEFAULT_EDITION) -> ComponentId:
        """Build and validate an identifier from its parts."""
        check_edition(edition)
        w = CLASS_DIGITS[edition]
        if not isinstance(sequence, int | np.integer) or not 1 <= int(sequence) <= 999_999:
            raise CodeError(f"component sequence {sequence!r} outside 1–999999")
        code = f"{county}{str(class_code).zfill(w)}{int(sequence):06d}"
        return cls.parse(code, edition)

    @property
    def major_code(self) -> str:
        return self.class_code[:2]

    @property
    def minor_code(self) -> str:
        return self.class_code[2:]

    def format(self) -> str:
        """The identifier as a string."""
        return self.county + self.class_code + self.sequence

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class MatterCode:
    """A 事项/event code.

    GB/T 47678.5-2026: 11 digits, 6 county + 5-digit 事项 class (a type in an area, not
    an event instance). CJ/T 214-2007: the 4-digit event class alone (``county`` is None).

    Examples
    --------
    >>> from gridlib.codes import MatterCode
    >>> m = MatterCode.parse("41010506012")
    >>> m.county, m.class_code
    ('410105', '06012')
    >>> MatterCode.parse("0502", edition="cjt214-2007").class_code
    '0502'
    >>> MatterCode.build("410105", "06012").format()
    '41010506012'
    """

    county: str | None
    class_code: str
    edition: str = DEFAULT_EDITION

    @classmethod
    def parse(cls, code: object, edition: str = DEFAULT_EDITION, *, check_county: bool = True) -> MatterCode:
        check_edition(edition)
        s = _one(code, "matter", "matter code", edition=edition, check_county=check_county)
        if edition == "cjt214-2007":
            return cls(None, s, edition)
        return cls(s[:6], s[6:], edition)

    @classmethod
    def build(cls, county: str | None, class_code: str, edition: str = DEFAULT_EDITION) -> MatterCode:
        check_edition(edition)
        if edition == "cjt214-2007":
            if county is not None:
                raise CodeError("CJ/T 214-2007 event codes have no county part; pass county=None")
            return cls.parse(class_code, edition)
        return cls.parse(f"{county}{str(class_code).zfill(5)}", edition)

    def format(self) -> str:
        """The code as a string."""
        return (self.county or "") + self.class_code

    def __str__(self) -> str:
        return self.format()
