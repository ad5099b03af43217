"""The command-line contract, for every command and subcommand the typer app has (new ones included).

Each case runs the *installed* ``edgetl`` console script, so a broken entry point or a dependency that
changed under it (typer vendoring click, say) fails here, not in a user's terminal: ``--help`` exits 0,
a missing argument or an unknown option prints the usage box and exits 2, and nothing prints a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from edgetl import __version__
from edgetl.cli import app

ROOT = Path(__file__).resolve().parents[1]
EDGETL = Path(sys.executable).with_name("edgetl")  # the console script pip installed beside this Python


def command_paths() -> list[tuple[tuple[str, ...], object]]:
    """(words after `edgetl`, click command) for the app, every group and every leaf command."""
    found = []

    def walk(words: tuple[str, ...], command) -> None:
        found.append((words, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk((*words, name), sub)

    walk((), typer.main.get_command(app))
    return found


COMMANDS = command_paths()
IDS = [" ".join(words) or "edgetl" for words, _ in COMMANDS]


def edgetl(*args: str) -> subprocess.CompletedProcess:
    assert EDGETL.is_file(), f"{EDGETL} missing: install the package (make install) so the console script exists"
    proc = subprocess.run([str(EDGETL), *args], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "EDGETL_PROGRESS": "0", "COLUMNS": "100"})
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-1500:] + proc.stderr[-3000:]
    return proc


def test_the_walk_finds_the_commands():
    assert {"train", "export", "run", "data check", "data split"} <= set(IDS)


@pytest.mark.parametrize("words, command", COMMANDS, ids=IDS)
def test_help_exits_0(words, command):
    proc = edgetl(*words, "--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.parametrize("words, command", COMMANDS, ids=IDS)
def test_bogus_option_is_a_usage_error(words, command):
    proc = edgetl(*words, "--no-such-option-anywhere")
    assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-2000:]
    assert "Usage" in proc.stderr and "No such option" in proc.stderr


@pytest.mark.parametrize("words, command", COMMANDS, ids=IDS)
def test_no_arguments(words, command):
    is_group = hasattr(command, "commands")
    required = [p.name for p in command.params if p.required]
    if not is_group and not required:
        pytest.skip(f"`edgetl {' '.join(words)}` needs no argument: without any it does its real work")
    proc = edgetl(*words)
    assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-2000:]
    assert "Usage" in proc.stdout + proc.stderr  # a group shows its help, a command its usage box


def test_version():
    proc = edgetl("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"edgetl {__version__}"
