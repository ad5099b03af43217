"""How edgetl ships: lock files that pin what pyproject.toml asks for, and a wheel that installs on its own.

edgetl is not on the package registry, so a wheel (``make dist``) or a checkout is how it reaches a
workstation or a Pi; the ``[pi]`` extra must bring everything ``edgetl run`` needs and no TensorFlow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
DEV_LOCK = ROOT / "requirements" / "dev.txt"
PI_LOCK = ROOT / "requirements" / "pi.txt"
AARCH64 = {"platform_machine": "aarch64", "sys_platform": "linux", "python_version": "3.11", "python_full_version": "3.11.2"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def locked(path: Path, environment: dict | None = None) -> dict[str, str]:
    """name -> pinned version for the lines of a lock file whose markers hold in ``environment``."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(environment):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def wanted(*extras: str) -> list[Requirement]:
    meta = project()
    reqs = [Requirement(r) for r in meta["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in meta["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize(("lock", "extras", "environment"), [
    (DEV_LOCK, ("train", "dev"), None),
    (PI_LOCK, ("pi",), None),
    (PI_LOCK, ("pi",), AARCH64),
])
def test_lock_pins_every_dependency_within_pyproject_bounds(lock, extras, environment):
    """A pyproject edit without `make lock` would leave CI testing versions a user never gets."""
    pins = locked(lock, environment)
    for req in wanted(*extras):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not pinned in {lock.name}: run make lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{lock.name} pins {name}=={pins[name]}, outside {req}"


def test_pi_lock_has_no_tensorflow_on_either_architecture():
    for environment in (None, AARCH64):
        pins = locked(PI_LOCK, environment)
        assert not {"tensorflow", "tf-keras", "keras", "h5py"} & set(pins), sorted(pins)
        assert {"ai-edge-litert", "numpy", "opencv-python-headless"} <= set(pins)


def test_make_installs_with_the_dev_lock():
    """`make install` is what the README and CI use: it must pass the lock to pip."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    install_lines = [line for line in makefile.splitlines() if "pip install" in line and "-e '.[" in line]
    assert install_lines and all("-c $(DEV_LOCK)" in line for line in install_lines), install_lines


def test_the_running_venv_matches_the_dev_lock():
    """The venv the tests run in holds exactly the pinned versions (the lock is not just a file)."""
    import sysconfig
    from importlib import metadata

    pins = locked(DEV_LOCK)
    # only the venv's own site-packages: once setuptools is imported, its _vendor folder (older copies of
    # packaging, zipp, importlib-metadata, ...) is on sys.path too, and those are not what pip installed
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=site)}
    differ = {n: (installed.get(n), v) for n, v in pins.items()
              if n in installed and installed[n] != v and n not in ("pip", "setuptools")}
    assert not differ, f"installed vs locked: {differ} (make install re-applies the lock)"


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist + wheel built from this checkout, as `make dist` does."""
    out = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", out, ROOT], cwd=ROOT)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return out


@pytest.mark.slow
def test_dist_builds_an_sdist_and_a_wheel_that_twine_accepts(dist):
    names = sorted(p.name for p in dist.iterdir())
    assert any(n.endswith(".tar.gz") for n in names) and any(n.endswith("-py3-none-any.whl") for n in names), names
    checked = run([Path(sys.executable).parent / "twine", "check", "--strict", *sorted(dist.iterdir())])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout


@pytest.mark.slow
def test_wheel_with_the_pi_extra_runs_without_tensorflow(dist, tmp_path):
    """What a Pi gets from a copied wheel: the CLI and `edgetl run` work, TensorFlow is nowhere.

    `edgetl --help` stands in for `edgetl --version` until the CLI has that option.
    """
    (wheel,) = dist.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    installed = run([bin_dir / "pip", "install", "--quiet", "-c", PI_LOCK, f"{wheel}[pi]"])
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    for args in (["--help"], ["run", "--help"]):
        shown = run([bin_dir / "edgetl", *args], env=env, cwd=tmp_path)
        assert shown.returncode == 0 and "Traceback" not in shown.stdout + shown.stderr, shown.stdout + shown.stderr
        assert "Usage" in shown.stdout
    assert "--model" in shown.stdout and "--source" in shown.stdout

    probe = ("import importlib.util as u, edgetl.runtime.runner, edgetl.runtime.interpreter as i;"
             "print(*[m for m in ('tensorflow', 'tf_keras', 'h5py') if u.find_spec(m)] or ['none'], i.runtime_module()[1])")
    found = run([bin_dir / "python", "-c", probe], env=env, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["none", "ai_edge_litert"], found.stdout
