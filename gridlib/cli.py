"""The ``gridlib`` command.

Each command group lives in its own module under :mod:`gridlib.commands` and
exposes ``register(app)``; this module only wires them together and turns
gridlib errors into one clear line and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import typer

from gridlib import __version__
from gridlib.errors import GridlibError
from gridlib.progress import enable_bars

# Order is the order in `gridlib --help`.
COMMAND_MODULES = [
    "demo", "db", "codes", "grid", "assign", "cases", "trucks", "hotspots", "coverage", "nightly", "serve",
]

app = typer.Typer(
    name="gridlib",
    help="gridlib — unit grids, codes, case assignment, truck compliance, hotspots and camera coverage "
    "for digital urban management (数字化城市管理).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_STATE = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gridlib {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, warnings only."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logging."),
) -> None:
    _STATE["debug"] = debug
    enable_bars(not quiet and sys.stderr.isatty())
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.setLevel(logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO))
    logging.basicConfig(level=logging.WARNING, handlers=[console], force=True)
    # gridlib logs its steps at INFO whatever the console shows, so log files stay complete;
    # other libraries stay at WARNING.
    logging.getLogger("gridlib").setLevel(logging.DEBUG if debug else logging.INFO)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module_name = f"gridlib.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (gridlib errors → 2 with one line on stderr)."""
    try:
        # without standalone mode click returns the exit code of typer.Exit instead of raising it
        code = app(args=argv, standalone_mode=False)
    except GridlibError as exc:
        if _STATE["debug"]:
            raise
        typer.echo(f"gridlib: error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # click's own usage errors
        return int(exc.code or 0)
    except Exception as exc:
        # Usage errors come from the click that typer uses (recent typer vendors its own copy).
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            typer.echo("Aborted.", err=True)
            return 1
        if _STATE["debug"]:
            raise
        typer.echo(f"gridlib: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
