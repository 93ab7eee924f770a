"""The Connection model against the spec's schema."""

from __future__ import annotations

import re

import msgspec
import pytest

from telnyx_async import AnchorsiteOverride, Connection

from .conftest import SPEC_PATH

SPEC = SPEC_PATH
SPEC_TEXT = SPEC.read_text()


def _schema_block(name: str) -> str:
    """The lines of one schema under components/schemas of the spec (4-space indent)."""
    match = re.search(rf"^    {name}:\n((?:^      .*\n|^\s*\n)+)", SPEC_TEXT, re.MULTILINE)
    assert match, f"schema {name} not found in {SPEC}"
    return match.group(1)


def test_every_spec_field_is_on_the_model() -> None:
    """The model has exactly the properties of the spec's Connection schema."""
    block = _schema_block("Connection")
    properties = re.split(r"^      example:", block.split("      properties:\n", 1)[1], flags=re.M)[
        0
    ]
    spec_fields = set(re.findall(r"^        (\w+):$", properties, re.MULTILINE))
    assert "anchorsite_override" in spec_fields
    assert len(spec_fields) == 12
    assert set(Connection.__struct_fields__) == spec_fields


def test_anchorsite_constants_match_the_spec_enum() -> None:
    """One constant per value the spec's AnchorsiteOverride enum lists."""
    block = _schema_block("AnchorsiteOverride")
    enum = re.findall(r"^      - (.+)$", block, re.MULTILINE)
    assert list(AnchorsiteOverride.ALL) == enum
    assert AnchorsiteOverride.CHICAGO_IL == "Chicago, IL"


def test_every_field_defaults_to_none() -> None:
    """An empty object decodes, with every field None."""
    conn = msgspec.json.decode(b"{}", type=Connection)
    assert all(getattr(conn, name) is None for name in Connection.__struct_fields__)


def test_connection_is_frozen_and_hashable() -> None:
    """Results are immutable values, usable as dict keys and in sets."""
    conn = Connection(id="1", tags=("a",))
    with pytest.raises(AttributeError):
        conn.id = "2"  # type: ignore[misc]
    assert hash(conn) == hash(Connection(id="1", tags=("a",)))


def test_fields_are_keyword_only() -> None:
    """Positional construction is refused, so adding fields never shifts meanings."""
    with pytest.raises(TypeError):
        Connection("1")  # type: ignore[call-arg]
