"""Sparse spatial weights for hotspot statistics.

A :class:`Weights` holds a binary ``scipy.sparse`` neighbour matrix (no self-links) over the
rows of a layer, in row order, plus the list of islands (rows without neighbours).
Builders:

* :func:`contiguity` — queen (a shared vertex) or rook (a shared edge) adjacency read from the
  coverage's own vertices by the grid package (:func:`gridlib.grid.topology.adjacency`, the same
  boundary segments as the grid index's Topology): every vertex is snapped to a millimetre key,
  polygons sharing a key (queen) or a pair of consecutive keys (rook) are neighbours. No geometry
  predicates, so 750,000 grids take seconds. It assumes a clean coverage, where neighbours share
  their boundary vertices (as validated unit grids do); a vertex of one polygon lying in the middle
  of a neighbour's edge is not a shared vertex.
* :func:`distance_band` — centroids within a distance (metres).
* :func:`knn` — the k nearest centroids (not symmetric).
* :func:`h3_kring` — H3 cells within k grid steps.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> cells = gpd.GeoDataFrame(geometry=[box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)],
...                          crs="EPSG:4550")
>>> contiguity(cells, "queen").cardinalities.tolist()
[3, 5, 3, 5, 8, 5, 3, 5, 3]
>>> contiguity(cells, "rook").cardinalities.tolist()
[2, 3, 2, 3, 4, 3, 2, 3, 2]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from gridlib.crs import metric_crs_for
from gridlib.errors import InputError
from gridlib.grid.topology import Topology, adjacency
from gridlib.types import ArrayLike

if TYPE_CHECKING:
    from gridlib.grid.model import GridSet
    from gridlib.index import GridIndex

__all__ = ["Weights", "contiguity", "distance_band", "knn", "h3_kring", "build_weights"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Weights:
    """Binary neighbour matrix over the rows of a layer (row order), without self-links.

    Attributes
    ----------
    sparse
        ``n × n`` CSR matrix of 0/1 (float64), sorted indices, no diagonal.
    kind
        How it was built, e.g. ``"queen"``, ``"knn:8"``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame(geometry=[box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)]
    ...                          + [box(10, 10, 11, 11)], crs="EPSG:4550")
    >>> w = contiguity(cells, "rook")
    >>> w.kind, w.n, w.cardinalities.tolist(), w.islands.tolist()
    ('rook', 10, [2, 3, 2, 3, 4, 3, 2, 3, 2, 0], [9])
    >>> w.matrix("R").sum(axis=1).A1.tolist()[:2]   # row-standardised
    [1.0, 1.0]
    """

    sparse: sp.csr_matrix
    kind: str

    @property
    def n(self) -> int:
        """Number of locations."""
        return int(self.sparse.shape[0])

    @property
    def cardinalities(self) -> np.ndarray:
        """Number of neighbours of each row."""
        return np.diff(self.sparse.indptr)

    @property
    def islands(self) -> np.ndarray:
        """Row positions with no neighbour."""
        return np.flatnonzero(self.cardinalities == 0)

    def matrix(self, transform: str = "B", *, self_weight: bool = False) -> sp.csr_matrix:
        """Return the weights as CSR, binary (``"B"``) or row-standardised (``"R"``).

        With ``self_weight`` each row also links to itself (the Gi* convention), before any
        row standardisation.

        >>> import scipy.sparse as sp
        >>> w = Weights(sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(2, 2)), "x")
        >>> w.matrix("R", self_weight=True).toarray().tolist()
        [[0.5, 0.5], [0.5, 0.5]]
        """
        m = self.sparse
        if self_weight:
            m = (m + sp.identity(self.n, format="csr")).tocsr()
        if transform == "B":
            return m.tocsr()
        if transform == "R":
            rows = np.asarray(m.sum(axis=1)).ravel()
            inv = np.divide(1.0, rows, out=np.zeros_like(rows), where=rows > 0)
            return (sp.diags(inv) @ m).tocsr()
        raise InputError(f"unknown weights transform {transform!r}: use 'B' (binary) or 'R' (row-standardised)")

    def to_libpysal(self) -> Any:
        """Return an equivalent ``libpysal.weights.W`` (ids are row positions).

        >>> import scipy.sparse as sp
        >>> w = Weights(sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(2, 2)), "x")
        >>> w.to_libpysal().neighbors[0]
        [1]
        """
        from libpysal.weights import WSP

        return WSP(self.sparse.tocsr()).to_W(silence_warnings=True)


def _finish(rows: np.ndarray, cols: np.ndarray, n: int, kind: str) -> Weights:
    keep = rows != cols
    m = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    m.sum_duplicates()
    m.data[:] = 1.0
    m.sort_indices()
    w = Weights(m, kind)
    if len(w.islands):
        log.warning("%s weights: %d of %d locations have no neighbour (islands)", kind, len(w.islands), n)
    return w


def _metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoSeries:
    if gdf.crs is None:
        raise InputError("layer has no CRS: weights need metric coordinates")
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if geoms.crs.is_projected:
        return geoms
    return geoms.to_crs(metric_crs_for(geoms))


def contiguity(gdf: gpd.GeoDataFrame | gpd.GeoSeries | GridSet, rule: str = "queen", *, precision: float = 0.001,
               topology: Topology | GridIndex | None = None) -> Weights:
    """Queen or rook contiguity from shared vertices / shared edges of a polygon coverage.

    The adjacency is the grid package's (:func:`gridlib.grid.topology.adjacency`, computed from
    the polygons' boundary segments); pass the grids' :class:`~gridlib.grid.topology.Topology`
    (or their :class:`~gridlib.index.GridIndex`, which carries it) to reuse segments already
    computed for the same rows.

    Parameters
    ----------
    gdf : GeoDataFrame, GeoSeries or GridSet
        Polygons (a unit-grid layer, zones …); geographic coordinates are projected first.
    rule
        ``"queen"`` (share at least one vertex) or ``"rook"`` (share at least one edge, i.e. two
        consecutive vertices).
    precision
        Vertices closer than this (metres, in the metric CRS) are the same vertex.
    topology : Topology or GridIndex, optional
        Built from the same rows, in a metric CRS (as the GridIndex of the grids is).

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoSeries([box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)], crs="EPSG:4550")
    >>> w = contiguity(g)
    >>> w.sparse.toarray().astype(int).tolist(), w.islands.tolist()
    ([[0, 1, 0], [1, 0, 0], [0, 0, 0]], [2])
    >>> import gridlib as gl
    >>> grids = gpd.GeoDataFrame({"grid_code": ["a", "b", "c"]}, geometry=g.values, crs=g.crs)
    >>> contiguity(grids, "rook", topology=gl.GridIndex(grids)).cardinalities.tolist()
    [1, 1, 0]
    """
    if rule not in ("queen", "rook"):
        raise InputError(f"unknown contiguity rule {rule!r}: use 'queen' or 'rook'")
    gdf = getattr(gdf, "grids", gdf)
    if topology is not None:
        topo: Topology = getattr(topology, "topology", topology)
        if len(topo) != len(gdf):
            raise InputError(f"the topology has {len(topo)} grids but the layer has {len(gdf)} rows")
        a, b = topo.adjacency(rule, precision)
        return _finish(np.concatenate([a, b]), np.concatenate([b, a]), len(gdf), rule)
    geoms = _metric(gdf).to_numpy()
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(kinds, (3, 6)))
    if len(bad):
        raise InputError(f"contiguity needs polygons; row {int(bad[0])} is {shapely.get_type_id(geoms[bad[0]])}"
                         " (type id) — drop or fix non-polygon rows first")
    a, b = adjacency(geoms, rule, precision)
    return _finish(np.concatenate([a, b]), np.concatenate([b, a]), len(geoms), rule)


def _centroids(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    geoms = _metric(gdf)
    if geoms.is_empty.any() or geoms.isna().any():
        raise InputError("layer has empty geometries: their position is undefined")
    return shapely.get_coordinates(geoms.centroid.to_numpy())


def distance_band(gdf: gpd.GeoDataFrame | gpd.GeoSeries, threshold: float) -> Weights:
    """Neighbours are the locations whose centroids lie within ``threshold`` metres.

    >>> import geopandas as gpd; from shapely.geometry import Point
    >>> g = gpd.GeoSeries([Point(0, 0), Point(100, 0), Point(500, 0)], crs="EPSG:4550")
    >>> distance_band(g, 150).cardinalities.tolist()
    [1, 1, 0]
    """
    if not threshold > 0:
        raise InputError(f"distance band must be positive metres, got {threshold}")
    xy = _centroids(gdf)
    pairs = cKDTree(xy).query_pairs(float(threshold), output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return _finish(rows, cols, len(xy), f"distance:{threshold:g}")


def knn(gdf: gpd.GeoDataFrame | gpd.GeoSeries, k: int = 8) -> Weights:
    """Neighbours are the ``k`` nearest centroids (ties broken by row order; not symmetric).

    >>> import geopandas as gpd; from shapely.geometry import Point
    >>> g = gpd.GeoSeries([Point(0, 0), Point(1, 0), Point(3, 0)], crs="EPSG:4550")
    >>> knn(g, 1).sparse.nonzero()[1].tolist()
    [1, 0, 1]
    """
    xy = _centroids(gdf)
    if not 0 < k < len(xy):
        raise InputError(f"k must be between 1 and n-1 = {len(xy) - 1}, got {k}")
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    rows = np.repeat(np.arange(len(xy)), k + 1)
    cols = idx.ravel()
    # Drop the self match; where duplicates of a point exist keep exactly k others.
    own = cols == rows
    extra = ~own.reshape(-1, k + 1).any(axis=1)
    own.reshape(-1, k + 1)[extra, -1] = True
    return _finish(rows[~own], cols[~own], len(xy), f"knn:{k}")


def h3_kring(cells: ArrayLike, k: int = 1) -> Weights:
    """Neighbours are the H3 cells within ``k`` grid steps that are present in ``cells``.

    >>> import h3
    >>> c = h3.latlng_to_cell(31.23, 121.5, 9)
    >>> ring = sorted(h3.grid_disk(c, 1))
    >>> sorted(h3_kring(ring, 1).cardinalities.tolist())
    [3, 3, 3, 3, 3, 3, 6]
    """
    import h3

    ids = np.asarray(list(cells), dtype=object)
    if len(set(ids.tolist())) != len(ids):
        raise InputError("H3 cells must be unique")
    pos = {c: i for i, c in enumerate(ids.tolist())}
    rows: list[int] = []
    cols: list[int] = []
    for i, cell in enumerate(ids.tolist()):  # h3 has no array API; one C call per cell
        for other in h3.grid_disk(cell, k):
            j = pos.get(other)
            if j is not None:
                rows.append(i)
                cols.append(j)
    return _finish(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), len(ids), f"h3:{k}")


def build_weights(gdf: gpd.GeoDataFrame, spec: str | Weights | sp.spmatrix) -> Weights:
    """Resolve a weights spec: a :class:`Weights`, a square sparse matrix, ``"queen"``, ``"rook"``,
    ``"knn:K"``, ``"distance:METRES"`` or ``"h3:K"`` (needs an ``h3`` column).

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4550")
    >>> build_weights(g, "knn:1").kind
    'knn:1'
    """
    n = len(gdf)
    if isinstance(spec, Weights):
        w = spec
    elif sp.issparse(spec):
        m = sp.csr_matrix(spec, dtype=float)
        m.setdiag(0)
        m.eliminate_zeros()
        return _finish(*m.nonzero(), n, "custom") if m.shape == (n, n) else _bad_shape(m.shape, n)
    elif isinstance(spec, str):
        name, _, arg = spec.partition(":")
        try:
            if name in ("queen", "rook"):
                w = contiguity(gdf, name)
            elif name == "knn":
                w = knn(gdf, int(arg or 8))
            elif name == "distance":
                w = distance_band(gdf, float(arg))
            elif name == "h3":
                if "h3" not in gdf.columns:
                    raise InputError("h3 weights need an 'h3' column of cell ids")
                w = h3_kring(gdf["h3"], int(arg or 1))
            else:
                raise InputError(f"unknown weights {spec!r}: use queen, rook, knn:K, distance:M or h3:K")
        except ValueError as exc:
            raise InputError(f"bad weights spec {spec!r}: {exc}") from exc
    else:
        raise InputError(f"weights must be a name, a Weights or a sparse matrix, not {type(spec).__name__}")
    if w.n != n:
        _bad_shape((w.n, w.n), n)
    return w


def _bad_shape(shape: tuple[int, ...], n: int) -> Weights:
    raise InputError(f"weights are {shape[0]}×{shape[1]} but the layer has {n} rows")
