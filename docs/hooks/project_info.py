"""MkDocs hook: the package version, and the repository once pyproject.toml names it.

The version comes from ``telnyx_async/_version.py``, the one place it lives, read as text
(importing the package would import aiohttp and the rest). The header shows it next to the
site name (``docs/overrides/partials/header.html``) as ``config.extra.package_version``:
not ``extra.version``, which Material reserves for mike's version selector.

When mkdocs.yml sets no ``repo_url``, the repository is taken from ``[project.urls]`` in
pyproject.toml (a label that normalizes to ``source``, ``sourcecode``, ``repository``,
``github`` or ``gitlab``, as in PEP 753), so the header's repository link appears as soon as
that table names one.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mkdocs.config.defaults import MkDocsConfig

_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_REPOSITORY_LABELS = ("source", "sourcecode", "repository", "github", "gitlab")


def package_version(root: Path) -> str:
    """The ``__version__`` string of ``telnyx_async/_version.py``."""
    path = root / "telnyx_async" / "_version.py"
    match = _VERSION.search(path.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"no __version__ = '...' line in {path}")
    return match[1]


def repository_url(root: Path) -> str | None:
    """The repository URL of pyproject.toml's ``[project.urls]``, if it names one."""
    with (root / "pyproject.toml").open("rb") as f:
        urls = tomllib.load(f).get("project", {}).get("urls", {})
    by_label = {re.sub(r"[\W_]", "", label.lower()): url for label, url in urls.items()}
    return next((by_label[label] for label in _REPOSITORY_LABELS if label in by_label), None)


def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    """Put the version in ``extra.package_version`` and fill in ``repo_url`` if unset."""
    root = Path(config.config_file_path).resolve().parent
    config.extra["package_version"] = package_version(root)
    if not config.repo_url and (url := repository_url(root)):
        config.repo_url = url
        # "owner/name", as the header shows it; mkdocs would say only "GitHub".
        config.repo_name = urlsplit(url).path.strip("/").removesuffix(".git") or url
    return config
