"""Synthetic coverages for the hotspot tests (square and hexagonal, sharing exact vertices)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

X0, Y0 = 357000.0, 3458000.0  # Lujiazui in EPSG:4550


def square_grid(nx: int, ny: int, size: float = 100.0) -> gpd.GeoDataFrame:
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    x, y = X0 + i.ravel() * size, Y0 + j.ravel() * size
    return gpd.GeoDataFrame(
        {"grid_code": [f"G{k:05d}" for k in range(nx * ny)]},
        geometry=shapely.box(x, y, x + size, y + size), crs="EPSG:4550",
    )


def hex_grid(nx: int, ny: int, r: float = 60.0) -> gpd.GeoDataFrame:
    """Pointy-top hexagons sharing exact vertices (offset rows)."""
    w = np.sqrt(3) * r
    angles = np.deg2rad(np.arange(6) * 60 + 30)
    geoms = []
    for row in range(ny):
        for col in range(nx):
            cx = X0 + col * w + (row % 2) * w / 2
            cy = Y0 + row * 1.5 * r
            geoms.append(shapely.Polygon(np.c_[cx + r * np.cos(angles), cy + r * np.sin(angles)]))
    return gpd.GeoDataFrame({"grid_code": [f"H{k:05d}" for k in range(nx * ny)]}, geometry=geoms, crs="EPSG:4550")

