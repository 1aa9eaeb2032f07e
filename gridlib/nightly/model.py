"""What the nightly run passes between its steps: typed inputs and results, not string-keyed dicts.

>>> from dataclasses import fields
>>> [f.name for f in fields(Coverage)]
['viewsheds', 'grid_coverage', 'blind_spots', 'reachability']
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import geopandas as gpd
import pandas as pd

from gridlib.grid import GridSet
from gridlib.trucks import CheckResult

__all__ = ["NightlyOptions", "NightlyInputs", "Coverage", "NightlyResults", "reach_column"]


@dataclass(frozen=True)
class NightlyOptions:
    """Parameters of a run (all recorded in the manifest).

    Examples
    --------
    >>> from dataclasses import asdict
    >>> opts = NightlyOptions(permutations=999, reach_minutes=15)
    >>> opts.hotspot_days, opts.permutations, asdict(opts)["reach_minutes"]
    (30, 999, 15)
    """

    hotspot_days: int = 30
    emerging_weeks: int = 12
    # "auto": as many as the layer's size needs for a cluster to pass FDR (gistar's default)
    permutations: int | str = "auto"
    seed: int = 0
    reach_minutes: float = 10.0
    near_boundary_m: float = 20.0
    include_staff_phone: bool = False
    county: str = "310115"
    max_water_share: float = 0.5
    #: inputs older than this (latest case, latest truck fix) give a freshness warning
    max_input_age_days: float = 2.0
    #: freshness warnings are fatal (:class:`gridlib.errors.FreshnessError`): nothing is published
    strict: bool = False

    @property
    def reach_column(self) -> str:
        """The product column for reachability within ``reach_minutes`` (``reachable_10min`` by default)."""
        return reach_column(self.reach_minutes)


def reach_column(minutes: float) -> str:
    """The product column saying whether a grid is reachable within *minutes*.

    >>> reach_column(10), reach_column(15.0), reach_column(7.5)
    ('reachable_10min', 'reachable_15min', 'reachable_7_5min')
    """
    return f"reachable_{minutes:g}min".replace(".", "_")


@dataclass
class NightlyInputs:
    """The store's layers a run reads (``None`` where an optional layer is absent).

    ``gridset`` is the grid edition valid on the run's date; the other names are the store's
    layer names (:data:`gridlib.nightly.INPUT_LAYERS`).

    >>> import gridlib as gl
    >>> inputs = NightlyInputs(gl.GridSet.from_gdf(gl.datasets.demo_grids()), cases=pd.DataFrame(),
    ...                        responsibility=pd.DataFrame())
    >>> len(inputs.grids) > 900, inputs.water is None
    (True, True)
    """

    gridset: GridSet
    cases: pd.DataFrame
    responsibility: pd.DataFrame
    components: gpd.GeoDataFrame | None = None
    frontage_zones: gpd.GeoDataFrame | None = None
    road_sections: gpd.GeoDataFrame | None = None
    truck_fixes: pd.DataFrame | None = None
    truck_permits: gpd.GeoDataFrame | None = None
    truck_sites: gpd.GeoDataFrame | None = None
    cameras: gpd.GeoDataFrame | None = None
    team_bases: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    buildings: gpd.GeoDataFrame | None = None
    water: gpd.GeoDataFrame | None = None
    alerts: pd.DataFrame | None = None

    @classmethod
    def layer_names(cls) -> tuple[str, ...]:
        """The store layers the inputs hold (every field but ``gridset``).

        >>> NightlyInputs.layer_names()[:3]
        ('cases', 'responsibility', 'components')
        """
        return tuple(f.name for f in fields(cls) if f.name != "gridset")

    @property
    def grids(self) -> gpd.GeoDataFrame:
        """The unit grids of the edition."""
        return self.gridset.grids


@dataclass
class Coverage:
    """Camera coverage and response reachability (each ``None`` where its inputs are absent).

    >>> Coverage().viewsheds is None
    True
    """

    viewsheds: gpd.GeoDataFrame | None = None
    grid_coverage: gpd.GeoDataFrame | None = None
    blind_spots: gpd.GeoDataFrame | None = None
    reachability: gpd.GeoDataFrame | None = None


@dataclass
class NightlyResults:
    """Everything the products are made from.

    ``tables`` are the KPI tables by file name (``kpi_street_day`` …), written as they are;
    ``options`` are the run's, so products name their fields after them; ``warnings`` are the
    run's freshness warnings (``{"code", "message"}``: no cases reported that day, no truck fixes
    in its night, stale inputs), also in the manifest; ``grids_digest`` is the grids' content digest (the
    manifest's ``inputs["grids"]["sha256"]``), which keys the edition's web-map tiles (worked out when ``None``).

    >>> import gridlib as gl
    >>> inputs = NightlyInputs(gl.GridSet.from_gdf(gl.datasets.demo_grids()), cases=pd.DataFrame(),
    ...                        responsibility=pd.DataFrame())
    >>> r = NightlyResults(inputs, cases=gpd.GeoDataFrame(), rejects=pd.DataFrame(), truck_result=None,
    ...                    options=NightlyOptions(reach_minutes=15))
    >>> r.gridset is inputs.gridset, r.options.reach_column, r.warnings
    (True, 'reachable_15min', [])
    """

    inputs: NightlyInputs
    cases: gpd.GeoDataFrame
    rejects: pd.DataFrame
    truck_result: CheckResult | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    hotspots: gpd.GeoDataFrame | None = None
    coverage: Coverage = field(default_factory=Coverage)
    options: NightlyOptions = field(default_factory=lambda: NightlyOptions())
    warnings: list[dict[str, str]] = field(default_factory=list)
    grids_digest: str | None = None

    @property
    def gridset(self) -> GridSet:
        """The grid edition of the run."""
        return self.inputs.gridset
