"""``gridlib serve``: the live service (HTTP case intake + OsmAnd, JT/T 808 gateway) in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises a captured SIGTERM after shutting down (exit -15); we stop cleanly instead."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Server


def loop_factory():
    """The event loop factory ``gridlib serve`` runs on: uvloop's when it is installed (a dependency: ~0.2 ms less
    CPU per HTTP request than asyncio's own loop), else None (asyncio's own). The live benchmarks use it too.

    >>> import asyncio
    >>> with asyncio.Runner(loop_factory=loop_factory()) as runner:
    ...     runner.run(asyncio.sleep(0, "ok"))
    'ok'
    """
    try:
        import uvloop
    except ImportError:      # pragma: no cover - uvloop has no Windows build
        return None
    return uvloop.new_event_loop


def _stop(server, app) -> None:
    server.should_exit = True
    app.state.alerts_stopping.set()     # end the open alert streams, or uvicorn waits for them


async def _serve(store_url: str, host: str, http_port: int, jt808_port: int, token: str | None, auth: bool,
                 fixes_path: str) -> None:
    import uvicorn

    import gridlib as gl
    from gridlib.live.app import create_app
    from gridlib.live.gateway import FixStore, Jt808Gateway
    from gridlib.live.monitor import attach_monitor
    from gridlib.live.teams import attach_teams

    _Server = _server_class()
    store = gl.store.open(store_url)
    fixes = FixStore(fixes_path)
    gateway = Jt808Gateway(fixes, auth=auth)
    app = create_app(store, fixes, token=token, gateway=gateway)
    teams = attach_teams(app, fixes)                # live dispatch origins, arrivals stamped from team fixes
    monitor = attach_monitor(app, store, fixes)     # rebuilt from the stored fixes and alerts first
    # what was just loaded (grids, index, road graph, rules, the monitor's rebuilt state) lives as long as the
    # process: kept out of the collector's reach, so the full collections a busy gateway triggers skip it
    gc.freeze()
    tcp = await gateway.start(host, jt808_port)
    server = _Server(uvicorn.Config(app, host=host, port=http_port, log_level="warning"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, server, app)
    log.info("serving HTTP on %s:%d, JT/T 808 on %s:%d, fixes in %s", host, http_port, host, jt808_port, fixes_path)
    try:
        await server.serve()        # returns after SIGTERM/SIGINT once in-flight requests are done
    finally:
        tcp.close()
        await gateway.close()
        await tcp.wait_closed()
        if monitor is not None:
            monitor.stop()          # a last tick: every stored fix is checked, its alerts stored
        teams.stop()                # the queued team fixes are checked for arrivals
        app.state.intake.close()    # the cases the last tick and arrivals raised are committed
        app.state.caselog.close()   # after the last arrival: the case log's -wal is checkpointed into the store
        fixes.close()               # every acknowledged fix was committed before its ACK


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        store: str = typer.Option(..., "--store", help="GeoPackage path or PostGIS URL of the gridlib store."),
        host: str = typer.Option("127.0.0.1", "--host"),
        http_port: int = typer.Option(8808, "--http-port"),
        jt808_port: int = typer.Option(7808, "--jt808-port"),
        token_file: Path | None = typer.Option(None, "--token-file", help="Bearer token for write endpoints."),
        jt808_auth: str = typer.Option("on", "--jt808-auth", help="on: only registered, authenticated terminals."),
        fixes: str | None = typer.Option(None, "--fixes", help="SQLite file of terminals and fixes "
                                         "(default: beside the store, <store>.live.sqlite)."),
    ) -> None:
        """Serve case intake, grid lookup and GPS fixes (JT/T 808 over TCP, OsmAnd over HTTP) until SIGTERM."""
        from gridlib.errors import InputError

        if jt808_auth not in ("on", "off"):
            raise InputError(f"--jt808-auth must be on or off, got {jt808_auth!r}")
        token = token_file.read_text().strip() if token_file else None
        fixes_path = fixes or (store + ".live.sqlite" if "://" not in store else "live.sqlite")
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_serve(store, host, http_port, jt808_port, token, jt808_auth == "on", fixes_path))
