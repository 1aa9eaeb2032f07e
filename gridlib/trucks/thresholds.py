"""The named thresholds of the truck check, one field each (no string-keyed dict).

>>> from gridlib.trucks.thresholds import Thresholds
>>> th = Thresholds(min_length_m=100)
>>> th.min_length_m, th.gap_s
(100.0, 600.0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridlib.errors import InputError

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Every threshold the truck check uses; the batch check and the live service share them.

    =======================  =======  ===========================================================
    name                     default  meaning
    =======================  =======  ===========================================================
    max_speed_kmh            150      implied speed of an impossible jump (cleaning)
    min_jump_m               100      jumps shorter than this are never impossible (1-s jitter)
    stop_radius_m            50       a stop is a dwell within this radius of one place ...
    min_dwell_s              300      ... for at least this long
    gap_s                    600      no fix for this long (or longer) ends a trip and an episode
    site_buffer_m            30       tolerance around site polygons (GPS error at gates)
    return_ratio             0.7      deviation ends back inside this fraction of the corridor
    min_duration_s           60       a deviation lasts at least this long ...
    min_length_m             150      ... and covers at least this distance off route
    unpermitted_stop_s       600      a stop outside approved sites longer than this is reported
    outside_hours_min_s      60       driving outside hours for at least this long
    no_permit_min_s          60       driving without a permit for at least this long
    zone_min_s               0        time inside a restricted zone before it counts
    speed_tolerance_kmh      10       speeding above limit + tolerance ...
    speeding_min_s           30       ... for at least this long
    road_snap_m              30       a fix belongs to the nearest road within this distance
    silence_s                300      no fix for this long while the truck moved ...
    silence_min_m            200      ... at least this far between the two fixes
    =======================  =======  ===========================================================

    Examples
    --------
    >>> Thresholds.from_mapping({"silence_s": "120"}).silence_s
    120.0
    """

    max_speed_kmh: float = 150.0
    min_jump_m: float = 100.0
    stop_radius_m: float = 50.0
    min_dwell_s: float = 300.0
    gap_s: float = 600.0
    site_buffer_m: float = 30.0
    return_ratio: float = 0.7
    min_duration_s: float = 60.0
    min_length_m: float = 150.0
    unpermitted_stop_s: float = 600.0
    outside_hours_min_s: float = 60.0
    no_permit_min_s: float = 60.0
    zone_min_s: float = 0.0
    speed_tolerance_kmh: float = 10.0
    speeding_min_s: float = 30.0
    road_snap_m: float = 30.0
    silence_s: float = 300.0
    silence_min_m: float = 200.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(f"threshold {f.name} must be a number, got {value!r}") from None
            if not number >= 0 or number == float("inf"):
                raise InputError(f"threshold {f.name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, f.name, number)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The thresholds' names, in table order.

        >>> Thresholds.names()[:2]
        ('max_speed_kmh', 'min_jump_m')
        """
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> Thresholds:
        """Thresholds from ``{name: value}`` (unknown names are an error naming the known ones)."""
        unknown = set(values) - set(cls.names())
        if unknown:
            raise InputError(f"unknown thresholds {sorted(unknown)}; known: {sorted(cls.names())}")
        return cls(**values)

    def replace(self, **changes: Any) -> Thresholds:
        """A copy with some thresholds changed.

        >>> Thresholds().replace(gap_s=300).gap_s
        300.0
        """
        return Thresholds.from_mapping({**dataclasses.asdict(self), **changes})

    def as_dict(self) -> dict[str, float]:
        """``{name: value}``, e.g. for a run's manifest."""
        return dataclasses.asdict(self)
