"""What a nightly run did: steps with durations and row counts, inputs with hashes."""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gridlib.progress import step as progress_step

__all__ = ["RunRecord", "StepRecord", "library_versions"]

_LIBRARIES = ("gridlib", "geopandas", "shapely", "pyproj", "numpy", "pandas", "pyogrio", "scipy",
              "networkx", "h3", "matplotlib", "pydeck", "psycopg")


def library_versions() -> dict[str, str]:
    """Installed versions of gridlib and the libraries its results depend on.

    Examples
    --------
    >>> v = library_versions()
    >>> {"python", "gridlib", "geopandas", "shapely"} <= set(v), v["gridlib"] == __import__("gridlib").__version__
    (True, True)
    """
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class StepRecord:
    """One step: name, seconds, and row counts in / out / rejected (by reason).

    Examples
    --------
    >>> s = StepRecord("assign cases", rows_in=10, rows_out=9, rejected=1, rejected_by_reason={"no grid": 1})
    >>> s.as_dict()["rows_out"] + s.as_dict()["rejected"] == s.rows_in
    True
    """

    name: str
    seconds: float = 0.0
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seconds": round(self.seconds, 3), "rows_in": int(self.rows_in),
                "rows_out": int(self.rows_out), "rejected": int(self.rejected),
                "rejected_by_reason": {k: int(v) for k, v in sorted(self.rejected_by_reason.items())},
                "notes": self.notes}


@dataclass
class RunRecord:
    """Everything the manifest says about a run.

    Examples
    --------
    >>> record = RunRecord(date="2026-11-20", parameters={"seed": 0}, store="demo.gpkg")
    >>> with record.step("load inputs") as st:
    ...     st.rows_out = 5
    >>> m = record.manifest()
    >>> m["date"], [s["name"] for s in m["steps"]], m["steps"][0]["rows_out"], m["warnings"]
    ('2026-11-20', ['load inputs'], 5, [])
    """

    date: str
    parameters: dict[str, Any]
    store: str
    steps: list[StepRecord] = field(default_factory=list)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid_edition: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    #: freshness warnings of the run, ``{"code", "message"}`` each
    warnings: list[dict[str, str]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        record = StepRecord(name)
        start = time.perf_counter()
        with progress_step(name):
            yield record
        record.seconds = time.perf_counter() - start
        self.steps.append(record)

    def manifest(self) -> dict[str, Any]:
        return {
            "gridlib_manifest": 1,
            "date": self.date,
            "store": self.store,
            "grid_edition": self.grid_edition,
            "parameters": self.parameters,
            "library_versions": library_versions(),
            "inputs": self.inputs,
            "steps": [s.as_dict() for s in self.steps],
            "outputs": self.outputs,
            "warnings": self.warnings,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
