"""Progress reporting shared by the library and the CLI.

The library reports long work through :func:`track`; it logs at INFO level and,
when the CLI has switched bars on (:func:`enable_bars`), draws a rich progress
bar on stderr. ``gridlib --quiet`` leaves bars off.

>>> sum(track(range(3), "counting"))
3
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

log = logging.getLogger("gridlib")
T = TypeVar("T")
_BARS = False
_DRAWN: list[Any] = []  # the bars being drawn now, each redrawn by a thread of its own (rich's refresh thread)


def _forked() -> None:
    """In a forked process: it has none of the bars' threads, and draws no bar, neither its own nor its parent's.

    The fork happened inside :func:`bars_held`, which the child never leaves: each parent bar's lock stays held
    and ``sys.stdout``/``sys.stderr`` still go through the bar (rich redirects them, and redraws the bar under
    that lock on every write). So the child takes its streams back, gives each bar a lock of its own and unhooks
    the bar from its console: a thread of the child that writes a warning neither waits for good nor draws.
    """
    global _BARS
    for bar in _DRAWN:
        live = bar.live
        live._lock = threading.RLock()
        live._disable_redirect_io()
        live.console.clear_live()
        live.console.pop_render_hook()
    _DRAWN.clear()
    _BARS = False


os.register_at_fork(after_in_child=_forked)


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


@contextmanager
def _bar(description: str, total: int | None) -> Iterator[tuple[Any, Any]]:
    """A bar drawn while the body runs: (the rich progress, its task). Its refresh thread has ended on exit."""
    refresh = None
    try:
        with _progress() as bar:
            refresh = getattr(bar.live, "_refresh_thread", None)
            _DRAWN.append(bar)
            try:
                yield bar, bar.add_task(description, total=total)
            finally:
                _DRAWN.remove(bar)
    finally:
        if refresh is not None:  # told to stop, not waited for by rich: gone before the caller goes on (to fork)
            refresh.join(timeout=5.0)


@contextmanager
def bars_held() -> Iterator[frozenset[threading.Thread]]:
    """Hold the progress bars still while the body runs; yield the threads that redraw them.

    Each bar is redrawn by a thread of its own; held, each such thread waits between two redraws for its bar's
    lock (which this holds), holding no lock of the console's or of stderr's. What a fork needs: a process forked
    in the body inherits no lock held by a bar's thread (and those are the only threads this module starts).

    >>> with bars_held() as threads:  # no bar is drawn here
    ...     threads
    frozenset()
    """
    with ExitStack() as stack:
        threads = set()
        for bar in list(_DRAWN):
            # rich's own: the lock its refresh thread redraws under (a rich without them: the thread stays unknown)
            lock, thread = getattr(bar.live, "_lock", None), getattr(bar.live, "_refresh_thread", None)
            if lock is not None and thread is not None:
                stack.enter_context(lock)
                threads.add(thread)
        yield frozenset(threads)


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
    with _bar(description, total) as (bar, task):
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
    with _bar(description, 1) as (bar, task):
        yield
        bar.advance(task)
