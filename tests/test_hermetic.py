"""The suite reads nothing from beside the repository: a clone alone passes it."""

from __future__ import annotations

import contextlib

from .conftest import OUTSIDE_READS, ROOT, SPEC_PATH, reads_outside_repo


def test_spec_copy_lives_in_the_repository() -> None:
    """The tests' OpenAPI spec is the project's own copy, with its origin written down."""
    assert SPEC_PATH.is_relative_to(ROOT)
    assert "/connections/{id}" in SPEC_PATH.read_text()
    assert "connections-openapi.yml" in (ROOT / "spec" / "README.md").read_text()


def test_paths_beside_the_repository_are_flagged() -> None:
    """A sibling folder of the repository is outside; the repository itself is not."""
    assert reads_outside_repo(ROOT.parent / "spec-beside" / "connections-openapi.yml")
    assert reads_outside_repo(str(ROOT) + "-other/x")  # a sibling whose name starts alike
    assert not reads_outside_repo(SPEC_PATH)
    assert not reads_outside_repo(ROOT / "tests" / ".." / "README.md")
    assert not reads_outside_repo(3)


def test_the_audit_hook_records_a_read_beside_the_repository() -> None:
    """Opening a file beside the repository is recorded (and this test then forgets it)."""
    target = ROOT.parent / "telnyx-async-hermetic-probe-does-not-exist"
    before = len(OUTSIDE_READS)
    with contextlib.suppress(OSError):
        target.open().close()
    recorded = OUTSIDE_READS[before:]
    del OUTSIDE_READS[before:]
    assert recorded == [str(target)]
