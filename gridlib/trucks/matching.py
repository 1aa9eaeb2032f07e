"""Map matching (optional): GPS fixes to road segments with a hidden Markov model.

This is separate from :func:`gridlib.trucks.check`, which never needs it: the check
measures fixes against the permit's route line. Map matching answers a different
question — *which roads* a truck drove, for example during a deviation — by the model
of Newson & Krumm (2009): each fix has candidate positions on the road segments within
``radius_m`` (emission: Gaussian in the distance, ``sigma_m``), and a move between two
fixes is likely when the distance along the network between their candidates is close to
the straight distance between the fixes (transition: exponential in the difference,
``beta_m``). Viterbi picks the most likely sequence; where no road is near a fix or no
path joins two fixes, the chain restarts.

Vectorised where it matters: candidates come from one STRtree query, network distances
from one multi-source Dijkstra (``scipy.sparse.csgraph``) per batch of source nodes, and
all transition scores of a batch of steps from one numpy expression; the Viterbi recursion
itself steps through the fixes (a few numpy operations on candidate-by-candidate matrices
per fix), so it suits trips and deviation episodes, not a whole fleet-day.

>>> import geopandas as gpd, numpy as np
>>> from shapely import LineString
>>> from gridlib.network import build_graph
>>> roads = gpd.GeoDataFrame({"name": ["东路", "北路"]},
...     geometry=[LineString([(0, 0), (500, 0)]), LineString([(500, 0), (500, 500)])], crs=4547)
>>> g = build_graph(roads)
>>> m = map_match(g, np.array([100.0, 300.0, 495.0, 505.0, 510.0]), np.array([8.0, -6.0, 60.0, 200.0, 400.0]))
>>> m.segment.tolist(), road_sequence(g, m, roads["name"])
([0, 0, 1, 1, 1], ['东路', '北路'])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph

from gridlib.crs import transform_xy
from gridlib.errors import InputError
from gridlib.network import RoadGraph, build_graph
from gridlib.trucks.detectors import ROAD_NAME_COLUMNS
from gridlib.trucks.violations import CheckResult
from gridlib.types import ArrayLike

__all__ = ["MapMatch", "map_match", "road_sequence", "deviation_roads"]

log = logging.getLogger(__name__)

_STEP_BATCH = 20_000  # fixes whose transitions are scored at once (memory ~ batch x states^2)


@dataclass
class MapMatch:
    """The matched position of each fix.

    Attributes
    ----------
    segment : numpy.ndarray of int64
        Segment of the graph (index into ``graph.segments``), −1 where no road lies within the radius.
    forward : numpy.ndarray of bool
        Travelling from the segment's ``seg_u`` node to its ``seg_v`` node.
    x, y : numpy.ndarray
        Matched position on the segment (the graph's metric CRS); NaN when unmatched.
    offset_m : numpy.ndarray
        Distance from the fix to its matched position.
    restart : numpy.ndarray of bool
        True where a matched chain starts (first fix, after a break, after an unmatched fix,
        or where no road path could join the previous fix).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> from gridlib.network import build_graph
    >>> g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])], crs=4547))
    >>> m = map_match(g, np.array([10.0, 50.0]), np.array([3.0, -4.0]))
    >>> m.x.tolist(), m.y.tolist(), m.offset_m.tolist(), m.forward.tolist()
    ([10.0, 50.0], [0.0, 0.0], [3.0, 4.0], [True, True])
    """

    segment: np.ndarray
    forward: np.ndarray
    x: np.ndarray
    y: np.ndarray
    offset_m: np.ndarray
    restart: np.ndarray


def _candidates(graph: RoadGraph, x: np.ndarray, y: np.ndarray, radius_m: float, k: int,
                directed: bool) -> pd.DataFrame:
    """Up to *k* nearest segments per fix, each with its allowed direction(s) of travel."""
    pts = shapely.points(x, y)
    tree = shapely.STRtree(graph.segments)
    pi, si = tree.query(pts, predicate="dwithin", distance=radius_m)
    d = shapely.distance(graph.segments[si], pts[pi])
    order = np.lexsort((si, d, pi))
    pi, si, d = pi[order], si[order], d[order]
    rank = np.arange(len(pi)) - np.searchsorted(pi, pi)
    keep = rank < k
    pi, si, d = pi[keep], si[keep], d[keep]
    along = shapely.line_locate_point(graph.segments[si], pts[pi])
    fwd_ok = np.ones(len(si), dtype=bool) if not directed else np.isfinite(graph.t_fwd[si])
    bwd_ok = np.ones(len(si), dtype=bool) if not directed else np.isfinite(graph.t_bwd[si])
    length = graph.length_m[si]
    cand = pd.DataFrame({
        "fix": np.r_[pi[fwd_ok], pi[bwd_ok]], "seg": np.r_[si[fwd_ok], si[bwd_ok]],
        "forward": np.r_[np.ones(fwd_ok.sum(), bool), np.zeros(bwd_ok.sum(), bool)],
        "dist": np.r_[d[fwd_ok], d[bwd_ok]],
        # position along the direction of travel
        "pos": np.r_[along[fwd_ok], (length - along)[bwd_ok]],
        "length": np.r_[length[fwd_ok], length[bwd_ok]],
        "along": np.r_[along[fwd_ok], along[bwd_ok]],
    })
    cand["start"] = np.where(cand["forward"], graph.seg_u[cand["seg"]], graph.seg_v[cand["seg"]])
    cand["end"] = np.where(cand["forward"], graph.seg_v[cand["seg"]], graph.seg_u[cand["seg"]])
    return cand.sort_values(["fix", "dist", "seg", "forward"], kind="stable").reset_index(drop=True)


def _length_matrix(graph: RoadGraph, directed: bool) -> sp.csr_matrix:
    fwd = np.isfinite(graph.t_fwd) | (not directed)
    bwd = np.isfinite(graph.t_bwd) | (not directed)
    tail = np.r_[graph.seg_u[fwd], graph.seg_v[bwd]]
    head = np.r_[graph.seg_v[fwd], graph.seg_u[bwd]]
    w = np.maximum(np.r_[graph.length_m[fwd], graph.length_m[bwd]], 1e-6)  # csgraph drops zeros
    # parallel edges: a coo -> csr conversion would add them up; keep the shortest instead
    order = np.lexsort((w, head, tail))
    first = np.r_[True, (tail[order][1:] != tail[order][:-1]) | (head[order][1:] != head[order][:-1])]
    o = order[first]
    return sp.csr_matrix((w[o], (tail[o], head[o])), shape=(graph.n_nodes, graph.n_nodes))


def _network_distance(matrix: sp.csr_matrix, src: np.ndarray, dst: np.ndarray, limit: float) -> np.ndarray:
    """Shortest path length src[i] -> dst[i] (inf beyond *limit*), one Dijkstra per batch of sources."""
    out = np.full(len(src), np.inf)
    if len(src) == 0:
        return out
    usrc, inv = np.unique(src, return_inverse=True)
    inv = inv.reshape(-1)
    batch = max(1, 20_000_000 // max(matrix.shape[0], 1))  # dense rows: ~160 MB at most
    for b0 in range(0, len(usrc), batch):
        rows = csgraph.dijkstra(matrix, directed=True, indices=usrc[b0:b0 + batch], limit=limit)
        sel = np.flatnonzero((inv >= b0) & (inv < b0 + batch))
        out[sel] = rows[inv[sel] - b0, dst[sel]]
    return out


def map_match(
    graph: RoadGraph,
    x: np.ndarray,
    y: np.ndarray,
    *,
    breaks: np.ndarray | None = None,
    radius_m: float = 50.0,
    sigma_m: float = 10.0,
    beta_m: float = 30.0,
    max_candidates: int = 5,
    directed: bool = True,
) -> MapMatch:
    """Match fixes (in the graph's metric CRS, in time order) to road segments.

    Parameters
    ----------
    graph : RoadGraph
        From :func:`gridlib.network.build_graph`.
    x, y : numpy.ndarray
        Fix positions in ``graph.crs``, in time order (one trace, or several separated by *breaks*).
    breaks : numpy.ndarray of bool, optional
        True where a new trace starts (a new vehicle, a gap in the data).
    radius_m : float
        Candidate segments lie within this distance of the fix.
    sigma_m : float
        GPS error (standard deviation of the emission model).
    beta_m : float
        Scale of the transition model: how much longer than the straight line a path may be.
    max_candidates : int
        Nearest segments kept per fix.
    directed : bool
        Respect one-way streets. Off, any segment may be driven either way (trucks and OSM
        one-way tags do not always agree).

    Returns
    -------
    MapMatch

    Examples
    --------
    A fix 8 m beside a side street is still matched to the main road it is driving along:

    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> from gridlib.network import build_graph
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)]),
    ...     LineString([(300, 0), (300, 200)])], crs=4547)
    >>> g = build_graph(roads)
    >>> m = map_match(g, np.arange(100.0, 600.0, 100.0), np.array([2.0, -3.0, 8.0, 1.0, -2.0]))
    >>> [int(g.seg_road[s]) for s in m.segment]
    [0, 0, 0, 0, 0]
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n = len(x)
    if len(y) != n:
        raise InputError(f"x and y differ in length ({n} and {len(y)})")
    if not (radius_m > 0 and sigma_m > 0 and beta_m > 0 and max_candidates >= 1):
        raise InputError("radius_m, sigma_m and beta_m must be > 0 and max_candidates >= 1")
    brk = np.zeros(n, dtype=bool) if breaks is None else np.asarray(breaks, dtype=bool).copy()
    if n:
        brk[0] = True
    cand = _candidates(graph, x, y, radius_m, max_candidates, directed)
    # candidates as padded (fix, state) arrays
    counts = np.bincount(cand["fix"].to_numpy(), minlength=n) if n else np.zeros(0, dtype=np.int64)
    width = int(counts.max()) if n and len(cand) else 1
    slot = np.arange(len(cand)) - np.searchsorted(cand["fix"].to_numpy(), cand["fix"].to_numpy())
    fix = cand["fix"].to_numpy()

    def padded(col: str, fill: Any, dtype: Any) -> np.ndarray:
        out = np.full((n, width), fill, dtype=dtype)
        out[fix, slot] = cand[col].to_numpy()
        return out

    seg, fwd = padded("seg", -1, np.int64), padded("forward", False, bool)
    pos, length = padded("pos", np.nan, "float64"), padded("length", np.nan, "float64")
    along = padded("along", np.nan, "float64")
    start, end = padded("start", 0, np.int64), padded("end", 0, np.int64)
    emit = np.full((n, width), -np.inf)
    emit[fix, slot] = -0.5 * (cand["dist"].to_numpy() / sigma_m) ** 2

    matrix = _length_matrix(graph, directed)
    back = np.full((n, width), -1, dtype=np.int64)
    restart = np.zeros(n, dtype=bool)
    scores = np.full((n, width), -np.inf)
    if n:
        score = emit[0].copy()
        scores[0] = score
        restart[0] = True
    for b0 in range(1, n, _STEP_BATCH):
        b1 = min(n, b0 + _STEP_BATCH)
        trans = _transitions(matrix, x, y, b0, b1, brk, seg, fwd, pos, length, start, end, sigma_m, beta_m)
        for i in range(b0, b1):
            if brk[i] or not np.isfinite(score).any():
                score = emit[i].copy()
                restart[i] = True
            else:
                tot = score[:, None] + trans[i - b0]
                best = np.argmax(tot, axis=0)
                new = tot[best, np.arange(width)] + emit[i]
                if np.isfinite(new).any():
                    back[i] = best
                    score = new
                else:  # no road path joins the previous fix: start again here
                    score = emit[i].copy()
                    restart[i] = True
            scores[i] = score

    # backtrack each chain from its best last state
    chosen = np.full(n, -1, dtype=np.int64)
    ends = np.r_[np.flatnonzero(restart)[1:] - 1, n - 1] if n else np.zeros(0, dtype=np.int64)
    for e in ends.tolist():  # per chain; the walk inside is per fix but only integer look-ups
        if not np.isfinite(scores[e]).any():
            continue
        s = int(np.argmax(scores[e]))
        i = e
        while True:
            chosen[i] = s
            if restart[i]:
                break
            s = int(back[i, s])
            i -= 1
    ok = chosen >= 0
    rows = np.flatnonzero(ok)
    out_seg = np.full(n, -1, dtype=np.int64)
    out_fwd = np.zeros(n, dtype=bool)
    mx, my, off = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if len(rows):
        out_seg[rows] = seg[rows, chosen[rows]]
        out_fwd[rows] = fwd[rows, chosen[rows]]
        pts = shapely.line_interpolate_point(graph.segments[out_seg[rows]], along[rows, chosen[rows]])
        mx[rows], my[rows] = shapely.get_x(pts), shapely.get_y(pts)
        off[rows] = np.hypot(mx[rows] - x[rows], my[rows] - y[rows])
    restart |= ~ok
    log.info("map matching: %d fixes, %d matched, %d chains", n, int(ok.sum()), int(restart[ok].sum()))
    return MapMatch(out_seg, out_fwd, mx, my, off, restart)


def _transitions(matrix: sp.csr_matrix, x: np.ndarray, y: np.ndarray, b0: int, b1: int, brk: np.ndarray,
                 seg: np.ndarray, fwd: np.ndarray, pos: np.ndarray, length: np.ndarray, start: np.ndarray,
                 end: np.ndarray, sigma_m: float, beta_m: float) -> np.ndarray:
    """Log transition scores from every state of fix i−1 to every state of fix i, for i in [b0, b1)
    (−inf into a fix that starts a new trace: no network distance is asked for there)."""
    a = slice(b0 - 1, b1 - 1)
    b = slice(b0, b1)
    straight = np.hypot(x[b] - x[a], y[b] - y[a])[:, None, None]
    pa, pb = pos[a][:, :, None], pos[b][:, None, :]
    same = (seg[a][:, :, None] == seg[b][:, None, :]) & (fwd[a][:, :, None] == fwd[b][:, None, :]) \
        & (seg[a][:, :, None] >= 0)
    # on the same segment and direction, a small step back is GPS noise while (nearly) standing
    along_same = np.where(pb >= pa - 2 * sigma_m, np.abs(pb - pa), np.inf)
    # otherwise: to the end of this segment, through the network, into the next one
    src = np.broadcast_to(end[a][:, :, None], same.shape)
    dst = np.broadcast_to(start[b][:, None, :], same.shape)
    valid = (seg[a][:, :, None] >= 0) & (seg[b][:, None, :] >= 0) & ~brk[b][:, None, None]
    need = valid & ~(same & np.isfinite(along_same))
    limit = float(np.max(straight)) * 3.0 + 1000.0 if straight.size else 0.0
    net = np.full(same.shape, np.inf)
    net[need] = _network_distance(matrix, src[need], dst[need], limit)
    via = (length[a][:, :, None] - pa) + net + pb
    route = np.where(same & np.isfinite(along_same), along_same, via)
    with np.errstate(invalid="ignore"):
        out = -np.abs(route - straight) / beta_m
    out[~valid | ~np.isfinite(route)] = -np.inf
    return out


def _names(names: Any) -> np.ndarray:
    col = pd.Series(names).astype(object)
    return np.asarray(col.where(col.notna(), None), dtype=object)


def _sequence(labels: Any) -> list[str]:
    out: list[str] = []
    for label in labels:  # one per matched fix of one trace: short
        if label is not None and str(label).strip() and (not out or out[-1] != label):
            out.append(str(label))
    return out


def road_sequence(graph: RoadGraph, match: MapMatch, names: ArrayLike) -> list[str]:
    """Names of the roads the matched fixes lie on, in driving order, repeats and blanks dropped.

    Parameters
    ----------
    graph : RoadGraph
    match : MapMatch
    names : sequence
        One name per row of the roads the graph was built from (``graph.seg_road`` indexes it).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> from gridlib.network import build_graph
    >>> roads = gpd.GeoDataFrame({"name": ["A路", None]},
    ...     geometry=[LineString([(0, 0), (100, 0)]), LineString([(100, 0), (100, 100)])], crs=4547)
    >>> g = build_graph(roads)
    >>> road_sequence(g, map_match(g, np.array([20.0, 80.0, 102.0]), np.array([1.0, 2.0, 50.0])), roads["name"])
    ['A路']
    """
    seg = match.segment[match.segment >= 0]
    return _sequence(_names(names)[graph.seg_road[seg]])


def deviation_roads(result: CheckResult, roads: gpd.GeoDataFrame, *, graph: RoadGraph | None = None, directed: bool = False,
                    **options: float) -> pd.DataFrame:
    """The roads each deviation of a truck check drove along, by map matching its fixes.

    Parameters
    ----------
    result : CheckResult
        From :func:`gridlib.trucks.check`.
    roads : GeoDataFrame
        Road lines with a name column (``name``, ``name:zh``, ``name_zh`` or ``road_name``);
        Tilezen/OSM layers are cut to drivable kinds.
    graph : RoadGraph, optional
        A graph built from *roads* (built here when not given).
    directed : bool
        Respect one-way tags (off by default: a deviating truck may well ignore them).
    **options
        Passed to :func:`map_match` (``radius_m``, ``sigma_m``, ``beta_m``, ``max_candidates``).

    Returns
    -------
    pandas.DataFrame
        ``violation_id``, ``roads_matched`` (names in driving order, ``"; "``-joined),
        ``n_fixes``, ``matched_share`` (fixes with a road within the radius).

    Examples
    --------
    A truck drives 1.6 km of Century Avenue, far from its permitted route:

    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from shapely.geometry import LineString
    >>> import gridlib as gl
    >>> roads = gl.datasets.demo_roads()
    >>> avenue = roads[roads["name"] == "世纪大道"].to_crs(4550)
    >>> line = shapely.segmentize(avenue.geometry.iloc[int(avenue.length.argmax())], 80)
    >>> lon, lat = gl.crs.transform_xy(4550, 4326, *line.xy)
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": [""], "corridor_m": [50]},
    ...     geometry=[LineString([(121.40, 31.10), (121.41, 31.10)])], crs=4326)  # a route far away
    >>> fixes = pd.DataFrame({"vehicle_id": "V1", "lon": lon, "lat": lat,
    ...     "time": pd.date_range("2026-11-20 09:00", periods=len(lon), freq="10s").astype(str)})
    >>> r = gl.trucks.check(fixes, permits)
    >>> deviation_roads(r, roads)["roads_matched"].str.contains("世纪大道").tolist()
    [True]
    """
    col = next((c for c in ROAD_NAME_COLUMNS if c in roads.columns), None)
    if col is None:
        raise InputError(f"roads: no name column (one of {list(ROAD_NAME_COLUMNS)})")
    if "kind" in roads.columns:
        roads = roads[roads["kind"].isin(["highway", "major_road", "minor_road"])].reset_index(drop=True)
    graph = graph or build_graph(roads)
    dev = result.violations[result.violations["type"] == "deviation"]
    out = pd.DataFrame({"violation_id": dev["violation_id"].to_numpy(dtype=object),
                        "roads_matched": "", "n_fixes": 0, "matched_share": np.nan})
    if dev.empty:
        return out
    fx = result.fixes
    by_row = np.argsort(fx.row, kind="stable")
    rows = [np.array(e.split(","), dtype=np.int64) for e in dev["evidence"]]  # per deviation: a few
    pos = by_row[np.searchsorted(fx.row[by_row], np.concatenate(rows))]
    lengths = np.array([len(r) for r in rows])
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    brk = np.zeros(len(pos), dtype=bool)
    brk[starts] = True
    x, y = transform_xy(4326, graph.crs, fx.lon[pos], fx.lat[pos])
    m = map_match(graph, x, y, breaks=brk, directed=directed, **options)
    names = _names(roads[col])
    label = np.where(m.segment >= 0, names[graph.seg_road[np.maximum(m.segment, 0)]], None)
    out["roads_matched"] = ["; ".join(_sequence(label[a:a + k])) for a, k in zip(starts, lengths, strict=True)]
    out["n_fixes"] = lengths
    out["matched_share"] = np.add.reduceat((m.segment >= 0).astype(float), starts) / lengths
    return out
