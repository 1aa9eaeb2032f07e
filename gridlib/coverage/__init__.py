"""Camera coverage: viewsheds with building occlusion, road and grid coverage, blind spots, placement.

See ``docs/coverage.md``. The maps (``gl.coverage.maps``) load matplotlib and pydeck on first use.

>>> import gridlib as gl
>>> sorted(PRESETS)[:3]
['box', 'bullet', 'dome']
>>> callable(gl.coverage.maps.coverage_map)
True
"""

import importlib
from typing import Any

from gridlib.coverage.cameras import CAMERA_COLUMNS, PRESETS, read_cameras, validate_cameras
from gridlib.coverage.grids import blind_spots, grid_coverage, priority_blind_spots
from gridlib.coverage.place import (
    candidate_cameras,
    candidate_sites,
    coverage_problem,
    exact_max_cover,
    greedy_max_cover,
    place,
)
from gridlib.coverage.roads import ROAD_WEIGHTS, coverage_summary, road_coverage, road_weights
from gridlib.coverage.viewshed import sectors, viewsheds

__all__ = [
    "CAMERA_COLUMNS", "PRESETS", "ROAD_WEIGHTS", "read_cameras", "validate_cameras", "viewsheds", "sectors",
    "road_coverage", "coverage_summary", "road_weights", "grid_coverage", "blind_spots", "priority_blind_spots",
    "candidate_sites", "candidate_cameras", "coverage_problem", "greedy_max_cover", "exact_max_cover", "place",
]


def __getattr__(name: str) -> Any:
    if name == "maps":
        return importlib.import_module("gridlib.coverage.maps")
    raise AttributeError(f"module 'gridlib.coverage' has no attribute {name!r}")
