"""The built distributions: what the sdist and the wheel hold, and the wheel installed alone.

The module builds once, as a packager would: ``python -m build`` on a copy of the
project in a temporary folder (so the checkout gets no ``build/`` or egg-info from
it) makes the sdist, then the wheel from the unpacked sdist. The wheel is then
installed, without the checkout, into a fresh virtual environment.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

from telnyx_async._version import __version__

from .conftest import ROOT

_DEV_ONLY: frozenset[str] = frozenset(
    {".git", ".venv", "venv", ".tox", ".nox", "build", "dist", "__pycache__", ".hypothesis"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache"}
)
"""Folders of a working tree that are never part of the project's files."""

_NOT_SHIPPED: tuple[str, ...] = (".gitignore", ".github/")
"""Project files the sdist leaves out: everything else a clone has, it carries (MANIFEST.in)."""

_DIST_INFO = f"telnyx_async-{__version__}.dist-info/"


class Dists(NamedTuple):
    """The two files ``python -m build`` made, and the project files it was given."""

    sdist: Path
    wheel: Path
    files: tuple[str, ...]


def _child_env() -> dict[str, str]:
    """The environment minus what would point a child Python at the checkout or a key."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTEST_ADDOPTS"}
    drop |= {"PYTEST_PLUGINS", "TELNYX_API_KEY", "TELNYX_BASE_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(*args: str | Path, cwd: Path) -> str:
    """Run a command to completion and return its stdout; fail the test with its output."""
    result = subprocess.run(
        [os.fspath(a) for a in args],
        cwd=cwd,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{args} -> {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout


def _project_files() -> list[str]:
    """The project's files, relative to the root, as a clone has them.

    In a git checkout: the tracked files and new ones git does not ignore (what
    ``.ci/run`` tests). Elsewhere (an unpacked sdist): every file outside the
    development folders.
    """
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = _run(
            "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT
        )
        names = [n for n in listed.split("\0") if n]
    else:
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")]
    return sorted(
        name
        for name in names
        if (ROOT / name).is_file()
        and not name.endswith((".pyc", ".pyo", ".tmp"))
        and not any(part in _DEV_ONLY or part.endswith(".egg-info") for part in Path(name).parts)
    )


def _sdist_names(sdist: Path) -> set[str]:
    """The sdist's files, without the leading ``telnyx_async-<version>/``."""
    top = f"telnyx_async-{__version__}/"
    with tarfile.open(sdist) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    assert all(name.startswith(top) for name in members), members
    return {name.removeprefix(top) for name in members}


def _wheel_names(wheel: Path) -> set[str]:
    """The wheel's files."""
    with zipfile.ZipFile(wheel) as whl:
        return {name for name in whl.namelist() if not name.endswith("/")}


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist and wheel built from a copy of the project, once per module."""
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    # The list is kept: others may add files to the checkout while this module runs.
    files = tuple(_project_files())
    for name in files:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    _run(sys.executable, "-m", "build", "--outdir", work / "dist", src, cwd=work)
    (sdist,) = (work / "dist").glob("*.tar.gz")
    (wheel,) = (work / "dist").glob("*.whl")
    return Dists(sdist=sdist, wheel=wheel, files=files)


@pytest.fixture(scope="module")
def wheel_venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with the wheel, pytest and pytest-asyncio.

    Its ``bin`` (``Scripts`` on Windows) folder is returned. Dependencies come from
    the package index, pinned to the versions installed here so that pip resolves
    at once and reuses its cache.
    """
    work = tmp_path_factory.mktemp("venv")
    venv = work / "venv"
    # This environment's pip installs into the new venv (--python): no ensurepip run.
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    pins = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != "telnyx-async"
    )
    constraints = work / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    pip = (sys.executable, "-m", "pip", "--python", bindir / "python", "install", "--quiet")
    # --no-compile halves the install time; the imports below compile what they use.
    _run(*pip, "--no-compile", "-c", constraints, dists.wheel, "pytest", "pytest-asyncio", cwd=work)
    return bindir


USER_TEST = """\
import pytest

from telnyx_async import TelnyxSession


@pytest.mark.asyncio
async def test_lookup(fake_telnyx):
    async with TelnyxSession() as telnyx:
        conn = await telnyx.connections.get(fake_telnyx.ids[0])
    assert conn.id == fake_telnyx.ids[0]
"""
"""A user's test that relies on the ``fake_telnyx`` fixture of the installed wheel."""


def test_the_installed_wheel_imports_runs_and_serves_the_fixture(
    wheel_venv: Path, tmp_path: Path
) -> None:
    """From a folder outside the checkout, the wheel alone imports, runs its CLI and its fixture."""
    python = wheel_venv / "python"
    shown = _run(
        python, "-c", "import telnyx_async as t; print(t.__version__, t.__file__)", cwd=tmp_path
    )
    version, location = shown.split()
    assert version == __version__
    assert Path(location).is_relative_to(wheel_venv.parent)
    assert not Path(location).is_relative_to(ROOT)

    assert "usage: telnyx-async" in _run(wheel_venv / "telnyx-async", "--help", cwd=tmp_path)

    # A pytest.ini of its own: the user's project, not any configuration above tmp_path.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(USER_TEST)
    report = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert "1 passed" in report


def test_the_sdist_carries_what_a_packager_needs(dists: Dists) -> None:
    """Every file a clone has (tests, spec copy, LICENSE...) bar .gitignore; no caches."""
    names = _sdist_names(dists.sdist)
    needed = {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO", ".ci/run"}
    needed |= {"spec/connections-openapi.yml", "spec/README.md", "telnyx_async/py.typed"}
    needed |= {"tests/conftest.py", "tests/typing/check_public_api.py"}
    needed |= {n for n in dists.files if not n.startswith(_NOT_SHIPPED)}
    assert needed - names == set(), "add them to MANIFEST.in, or to _NOT_SHIPPED here"
    junk = {n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))}
    junk |= {n for n in names if any(p in _DEV_ONLY for p in Path(n).parts)}
    assert junk == set()
    with tarfile.open(dists.sdist) as tar:
        licence = tar.extractfile(f"telnyx_async-{__version__}/LICENSE")
        assert licence is not None
        text = licence.read().decode()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 telnyx-async developers" in text


def test_the_wheel_holds_the_package_and_its_metadata_only(dists: Dists) -> None:
    """Every module, py.typed and the dist-info; no tests, benchmarks, spec, docs, egg-info."""
    names = _wheel_names(dists.wheel)
    assert {n for n in names if not n.startswith(("telnyx_async/", _DIST_INFO))} == set()
    modules = {n for n in dists.files if n.startswith("telnyx_async/")}
    assert {n for n in names if n.startswith("telnyx_async/")} == modules
    assert "telnyx_async/py.typed" in names
    assert f"{_DIST_INFO}licenses/LICENSE" in names
    with zipfile.ZipFile(dists.wheel) as whl:
        metadata = whl.read(f"{_DIST_INFO}METADATA").decode()
        entry_points = whl.read(f"{_DIST_INFO}entry_points.txt").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert "telnyx-async = telnyx_async._cli:main" in entry_points
    assert "telnyx_async = telnyx_async.pytest_plugin" in entry_points


def test_the_version_is_written_in_one_place() -> None:
    """Only _version.py spells the version: setuptools reads it, the code imports it."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "telnyx_async._version.__version__" }' in pyproject
    spelled = [
        name
        for name in _project_files()
        if name.endswith((".py", ".toml", ".cfg"))
        and f'"{__version__}"' in (ROOT / name).read_text(encoding="utf-8")
    ]
    assert spelled == ["telnyx_async/_version.py"]


def test_importing_the_package_leaves_the_cli_fake_server_and_extras_unloaded() -> None:
    """``import telnyx_async`` stays cheap: no CLI, no FakeTelnyx, no tqdm, no yaml."""
    code = "import sys, json, telnyx_async; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(_run(sys.executable, "-c", code, cwd=ROOT)))
    assert "telnyx_async" in loaded
    unwanted = {"telnyx_async._cli", "telnyx_async.testing", "tqdm", "yaml"}
    assert loaded & unwanted == set()


def test_the_classifiers_name_the_pythons_ci_tests() -> None:
    """Each ``Python :: 3.x`` classifier is a version .ci/run tests, and each it tests is one."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    claimed = {
        c.rpartition(":: ")[2]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    ci = (ROOT / ".ci" / "run").read_text()
    others = re.search(r"^for want in ([\d. ]+); do$", ci, re.M)
    assert others, "the loop over the other interpreters in .ci/run"
    lowest = re.fullmatch(r">=\s*(3\.\d+)", project["requires-python"])
    assert lowest, project["requires-python"]
    assert claimed == {lowest.group(1), *others.group(1).split()}
