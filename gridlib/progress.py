"""Progress reporting shared by the library and the CLI.

The library reports long work through :func:`track`; it logs at INFO level and,
when the CLI has switched bars on (:func:`enable_bars`), draws a rich progress
bar on stderr. ``gridlib --quiet`` leaves bars off.

>>> sum(track(range(3), "counting"))
3
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

log = logging.getLogger("gridlib")
T = TypeVar("T")
_BARS = False


def enable_bars(on: bool = True) -> None:
    """Switch rich progress bars on (the CLI does this unless ``--quiet``)."""
    global _BARS
    _BARS = on


def bars_enabled() -> bool:
    """Return True when progress bars are drawn."""
    return _BARS


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over *items*, logging the step and drawing a bar when bars are on.

    Use it for coarse steps (chunks, layers, pipeline stages), never per record.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    log.info("%s (%s items)", description, total if total is not None else "?")
    if not _BARS:
        yield from items
        return
    with _progress() as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Log (and show, when bars are on) one named step of a longer job."""
    log.info("%s ...", description)
    if not _BARS:
        yield
        return
    with _progress() as bar:
        task = bar.add_task(description, total=1)
        yield
        bar.advance(task)
