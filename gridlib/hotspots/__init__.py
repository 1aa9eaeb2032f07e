"""Hotspots: case counts per zone, spatial weights, Gi* with permutations and FDR, kernel
density, emerging hot spots, and their maps. See ``docs/hotspots.md``.

>>> import gridlib as gl
>>> callable(gl.hotspots.gistar) and callable(gl.hotspots.emerging)
True
"""

from __future__ import annotations

import importlib
from typing import Any

from gridlib.hotspots.aggregate import counts, h3_of_cases, h3_zones, time_window, zone_positions
from gridlib.hotspots.emerging import (
    EMERGING_CATEGORIES,
    categorize,
    emerging,
    emerging_cube,
    mann_kendall,
    space_time_cube,
    space_time_gistar,
)
from gridlib.hotspots.gistar import (
    HOTSPOT_CLASSES,
    auto_permutations,
    classify,
    fdr_bh,
    gi_z,
    gistar,
    parse_permutations,
    permutation_p,
)
from gridlib.hotspots.kde import DensityRaster, density_contours, kernel_density
from gridlib.hotspots.weights import (
    Weights,
    build_weights,
    contiguity,
    distance_band,
    h3_kring,
    knn,
)

__all__ = [
    "counts", "h3_of_cases", "h3_zones", "time_window", "zone_positions",
    "EMERGING_CATEGORIES", "categorize", "emerging", "emerging_cube", "mann_kendall", "space_time_cube",
    "space_time_gistar",
    "HOTSPOT_CLASSES", "auto_permutations", "classify", "fdr_bh", "gi_z", "gistar", "parse_permutations",
    "permutation_p",
    "DensityRaster", "density_contours", "kernel_density",
    "hotspot_layer", "hotspot_map", "legend_for", "tooltip_html",
    "Weights", "build_weights", "contiguity", "distance_band", "h3_kring", "knn",
]

_MAP_NAMES = ("hotspot_layer", "hotspot_map", "legend_for", "tooltip_html")


def __getattr__(name: str) -> Any:
    # The map helpers pull in matplotlib and pydeck: import them only when a map is drawn.
    if name in _MAP_NAMES:
        value = getattr(importlib.import_module("gridlib.hotspots.maps"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gridlib.hotspots' has no attribute {name!r}")
