"""The ``gridlib`` command.

Each command group lives in its own module under :mod:`gridlib.commands` and
exposes ``register(app)``; this module only wires them together and turns
errors into one clear line and a documented exit code (:class:`ExitCode`, docs/cli.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import warnings
from enum import IntEnum

import typer

from gridlib import __version__
from gridlib.errors import FreshnessError, GridlibError, ValidationError
from gridlib.progress import enable_bars
from gridlib.store.base import mask_dsn

# Order is the order in `gridlib --help`.
COMMAND_MODULES = [
    "demo", "db", "codes", "grid", "assign", "cases", "trucks", "hotspots", "coverage", "nightly", "serve",
    "terminals",
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
    _quiet_library_warnings()
    # gridlib logs its steps at INFO whatever the console shows, so log files stay complete;
    # other libraries stay at WARNING.
    logging.getLogger("gridlib").setLevel(logging.DEBUG if debug else logging.INFO)


def _quiet_library_warnings() -> None:
    """Python warnings become one log line each (no source line under them); GDAL's complaint about the
    extension of gridlib's own temporary files (``.x.gpkg.tmp…``, renamed to ``.gpkg`` when complete) is dropped."""
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", message=r"The filename extension should be 'gpkg' instead of 'tmp'",
                            category=RuntimeWarning)


def _flags_show_no_value() -> None:
    """typer's help shows ``<bool>`` beside on/off flags (``--strict <bool>``) as if they took a value: show nothing."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover - another typer layout: its help is left as it is
        return
    shown = TyperOption.display_type_rich
    if getattr(shown, "_gridlib", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_bool_flag", False) else shown(self, ctx)

    display_type_rich._gridlib = True
    TyperOption.display_type_rich = display_type_rich


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module_name = f"gridlib.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(app)


_register_all()
_flags_show_no_value()


def command_paths() -> list[str]:
    """Every command of ``gridlib``, as typed after it (``"grid validate"``), sorted.

    >>> "nightly" in command_paths(), "grid validate" in command_paths()
    (True, True)
    """
    def walk(cmd, prefix: tuple[str, ...] = ()):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, (*prefix, name))
        else:
            yield " ".join(prefix)

    return sorted(walk(typer.main.get_command(app)))


class ExitCode(IntEnum):
    """Exit codes of every ``gridlib`` command (documented in docs/cli.md).

    >>> [int(c) for c in ExitCode]
    [0, 1, 2, 3, 70, 130]
    """

    #: the command did its work
    DONE = 0
    #: it ran and refused the input: validation found errors (``grid validate``, ``codes validate``, ``grid import``)
    REFUSED = 1
    #: bad input or usage: a missing file, a wrong option value, data gridlib cannot use (one line on stderr)
    BAD_INPUT = 2
    #: ``--strict`` and a freshness or quality warning (``nightly --strict``): nothing was published
    STRICT_WARNINGS = 3
    #: an internal error of gridlib (a bug): one line on stderr, ``--debug`` shows the traceback (EX_SOFTWARE)
    INTERNAL = 70
    #: interrupted (Ctrl-C)
    INTERRUPTED = 130


#: Errors of the environment that name the user's own file: bad input, not a gridlib bug.
_FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _exit_code_of(exc: GridlibError) -> ExitCode:
    if isinstance(exc, ValidationError):
        return ExitCode.REFUSED
    if isinstance(exc, FreshnessError):
        return ExitCode.STRICT_WARNINGS
    return ExitCode.BAD_INPUT


def _masked(text: str, argv: list[str]) -> str:
    """*text* with every password of a connection string on the command line masked."""
    for arg in argv:
        if "://" in arg or "password" in arg.lower():
            text = mask_dsn(text, arg)
    return mask_dsn(text)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _is_bad_file(exc: Exception) -> bool:
    if isinstance(exc, _FILE_ERRORS):
        return True
    try:
        from pyogrio.errors import DataSourceError
    except ImportError:  # pragma: no cover - pyogrio is a dependency
        return False
    return isinstance(exc, DataSourceError)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit code (:class:`ExitCode`).

    Errors gridlib raises on purpose give one line on stderr and exit 2 (bad input), 1 (validation
    refused the input) or 3 (``--strict`` warnings); anything else is a gridlib bug: one line, exit 70,
    and ``--debug`` re-raises it with the traceback. Every message goes through
    :func:`gridlib.store.mask_dsn`, so no password of a connection string is printed.

    >>> main(["codes", "show", "123"])
    2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _STATE["debug"] = False
    try:
        # without standalone mode click returns the exit code of typer.Exit instead of raising it
        code = app(args=args, standalone_mode=False)
    except GridlibError as exc:
        if _STATE["debug"]:
            raise
        typer.echo(_masked(f"gridlib: error: {_one_line(exc)}", args), err=True)
        return int(_exit_code_of(exc))
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # commands that end with SystemExit(1), click's own exits
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        typer.echo(_masked(f"gridlib: error: {exc.code}", args), err=True)
        return int(ExitCode.BAD_INPUT)
    except KeyboardInterrupt:
        typer.echo("Aborted.", err=True)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        # Usage errors come from the click that typer uses (recent typer vendors its own copy).
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            typer.echo("Aborted.", err=True)
            return int(ExitCode.INTERRUPTED)
        if _STATE["debug"]:
            raise
        if _is_bad_file(exc):
            typer.echo(_masked(f"gridlib: error: {_one_line(exc)}", args), err=True)
            return int(ExitCode.BAD_INPUT)
        typer.echo(_masked(f"gridlib: internal error: {type(exc).__name__}: {_one_line(exc)} "
                           "(run with --debug for the traceback)", args), err=True)
        return int(ExitCode.INTERNAL)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
