"""The published product schema: which columns each product may contain.

Products are built by *selecting* the documented columns, never by dropping
known-bad ones, so a column nobody listed (a reporter's name, a phone number,
free text) can never leak into a published file. Responsible staff's phone
numbers are listed only when the run is asked for them explicitly.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridlib.errors import InputError

__all__ = ["PRODUCT_COLUMNS", "PRODUCT_GEOMETRY", "PERSONAL_COLUMNS", "publishable"]

#: Columns in case records that identify citizens; never published (documented for reviewers).
PERSONAL_COLUMNS = ("reporter_name", "reporter_phone", "reporter_id", "id_number", "contact",
                    "description", "address_detail", "email")

PRODUCT_COLUMNS: dict[str, list[str]] = {
    "grid_responsibility": [
        "grid_code", "community_code", "community_name", "street_code", "street_name", "district_code",
        "district_name", "area_m2", "responsible_unit", "team", "person", "phone", "new_cases",
        "open_cases", "overdue_cases", "cases_30d", "hotspot_class", "hotspot_z", "emerging_category",
        "road_length_m", "camera_road_share", "blind_road_m", "nearest_base", "travel_min",
        "reachable_{reach}min",
    ],
    "assigned_cases": [
        "case_id", "class_code", "class_name_zh", "kind", "source", "urgency", "reported_at", "status",
        "stage", "light", "grid_code", "community_code", "street_code", "district_code",
        "responsible_unit", "responsibility_basis", "distance_to_boundary_m", "near_boundary",
    ],
    # gridlib.rejects.publishable plus the step: the code's meaning, never the offending value
    "rejects": ["step", "record_id", "field", "reason_code", "reason"],
    "violations": ["violation_id", "vehicle_id", "permit_id", "company", "type", "start", "end",
                   "duration_s", "case_id", "grid_code", "street_code"],
    # the tracks of the violations that are tracks; joined to ``violations`` by violation_id
    "violation_tracks": ["violation_id", "vehicle_id", "type", "start", "end"],
    "hotspots": ["grid_code", "street_code", "count", "z", "p", "p_sim", "q", "hotspot_class",
                 "emerging_category"],
    "camera_viewsheds": ["camera_id", "type", "heading", "fov", "range_m"],
    "blind_spots": ["blind_id", "rank", "priority", "case_density", "kind", "kind_detail", "name", "length_m",
                    "class_weight"],
    "reachability": ["grid_code", "street_code", "nearest_base", "travel_min", "reachable_{reach}min"],
}

#: The geometry type of each product layer with geometry, declared so that an empty layer (a night without
#: violations) still opens in QGIS as points or lines rather than "Unknown"; a filled layer's type is its data's.
PRODUCT_GEOMETRY: dict[str, str] = {
    "grid_responsibility": "Polygon", "hotspots": "Polygon", "reachability": "Polygon", "assigned_cases": "Point",
    "violations": "Point", "violation_tracks": "LineString", "camera_viewsheds": "Polygon",
    "blind_spots": "LineString",
}


def publishable(product: str, frame: pd.DataFrame, *, include_staff_phone: bool = False,
                reach_column: str = "reachable_10min") -> pd.DataFrame:
    """Select the documented columns of *product* that *frame* has (plus its geometry).

    >>> df = pd.DataFrame({"case_id": ["1"], "reporter_phone": ["138..."], "grid_code": ["x"]})
    >>> publishable("assigned_cases", df).columns.tolist()
    ['case_id', 'grid_code']
    """
    if product not in PRODUCT_COLUMNS:
        raise InputError(f"unknown product {product!r}; known: {sorted(PRODUCT_COLUMNS)}")
    # the reachability column is named for the run's reach_minutes (reachable_15min …)
    allowed = [reach_column if c == "reachable_{reach}min" else c
               for c in PRODUCT_COLUMNS[product] if c != "phone" or include_staff_phone]
    columns = [c for c in allowed if c in frame.columns]
    if isinstance(frame, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(frame[columns + [frame.geometry.name]], geometry=frame.geometry.name,
                                crs=frame.crs)
    return pd.DataFrame(frame[columns])

#: The columns of published rejects (the ``rejects`` layer and the nightly's step rejects).
PUBLISHED_REJECT_COLUMNS = tuple(PRODUCT_COLUMNS["rejects"])
