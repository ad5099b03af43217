"""deploy/raspberrypi/check-arm64.sh and install.sh where they cannot do their work: one clear line.

The full arm64 check (debootstrap root, install.sh inside it, `edgetl run` compared with this machine)
runs in CI as `make pi-check`; these tests cover the paths a developer without root meets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "raspberrypi"


def as_nobody(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run a command as an unprivileged user (the tests themselves may run as root, as CI does)."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop root")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        prefix = []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    return subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def test_arm64_check_without_root_skips_in_one_line(tmp_path):
    tmp_path.chmod(0o777)
    done = as_nobody("bash", DEPLOY / "check-arm64.sh", cwd=tmp_path)
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lines) == 1 and lines[0].startswith("pi-check: skipped: needs root"), lines
    assert not (tmp_path / ".cache").exists()  # nothing was built


def test_install_sh_without_root_refuses_before_touching_anything(tmp_path):
    tmp_path.chmod(0o777)
    done = as_nobody("bash", DEPLOY / "install.sh", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "" and done.stderr.startswith("error: run as root"), done.stdout + done.stderr
