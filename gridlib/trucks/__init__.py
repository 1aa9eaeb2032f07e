"""Muck-truck (渣土车) compliance on a columnar core.

``gl.trucks.check(fixes, permits, sites)`` cleans GPS fixes, finds stops and trips,
measures every fix against its permit's route, and reports deviations (with
hysteresis), driving without a permit or outside hours, stops outside approved
sites, restricted-zone entries, speeding and GPS silences, with credit points per
vehicle and company. ``gl.trucks.violations_to_cases`` turns the violations into
case-log rows. Optional and separate: :mod:`gridlib.trucks.matching` matches fixes
to the road network (which roads a truck drove).
"""

from gridlib.trucks.cases import violation_points, violations_to_cases
from gridlib.trucks.clean import clean
from gridlib.trucks.credit import Credit, credit, load_deductions
from gridlib.trucks.fixes import Fixes, from_trajectories, read_fixes, to_trajectories
from gridlib.trucks.route import read_permits, read_sites
from gridlib.trucks.thresholds import Thresholds
from gridlib.trucks.trips import detect
from gridlib.trucks.violations import THRESHOLDS, CheckResult, check

__all__ = [
    "check", "CheckResult", "Thresholds", "THRESHOLDS", "violations_to_cases", "violation_points", "read_fixes", "read_permits", "read_sites",
    "clean", "detect", "credit", "Credit", "load_deductions", "Fixes", "to_trajectories", "from_trajectories",
]
