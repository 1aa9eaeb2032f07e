import subprocess
import sys

import pytest

import gridlib
from gridlib.cli import COMMAND_MODULES, main


def run(*args):
    return subprocess.run([sys.executable, "-m", "gridlib.cli", *args], capture_output=True, text=True, timeout=120)


def test_version_and_help():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"gridlib {gridlib.__version__}"
    proc = run("--help")
    assert proc.returncode == 0
    for group in ("db",):
        assert group in proc.stdout


def test_every_command_group_is_registered():
    import importlib.util

    proc = run("--help")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"gridlib.commands.{name}") is not None:
            assert name.replace("_", "-") in proc.stdout or name in proc.stdout


def test_bad_input_is_one_line_and_nonzero(capsys):
    assert main(["db", "layers", "not-a-store.txt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gridlib: error: unknown store")


def test_debug_shows_the_traceback():
    from gridlib.errors import StoreError

    with pytest.raises(StoreError):
        main(["--debug", "db", "layers", "not-a-store.txt"])


def test_usage_error_exit_code():
    assert main(["db", "no-such-command"]) == 2


@pytest.mark.postgis
def test_db_init_and_layers(postgis_url, tmp_path, capsys):
    assert main(["db", "init", postgis_url]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["db", "layers", str(tmp_path / "empty.gpkg")]) == 0


def test_typer_exit_code_is_returned():
    import typer

    from gridlib.cli import app

    @app.command("exit-probe", hidden=True)
    def _probe() -> None:
        raise typer.Exit(1)

    try:
        assert main(["exit-probe"]) == 1
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "exit-probe"]
