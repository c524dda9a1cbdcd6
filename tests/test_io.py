"""dsplan.io: what dsplan writes, dsplan (and any TOML reader) reads back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dsplan.catalog.presets import tomllib
from dsplan.io import toml_string


@given(st.text())
def test_toml_string_round_trips(text: str) -> None:
    # Any text (quotes, backslashes, newlines, control characters, DEL, non-ASCII) is one valid
    # TOML basic string that reads back as itself.
    assert tomllib.loads(f"key = {toml_string(text)}\n")["key"] == text


def test_toml_string_keeps_plain_text_as_it_was_written() -> None:
    # The configs and presets of earlier releases are unchanged: ids and paths are written as is.
    assert toml_string("current") == '"current"'
    assert toml_string("runs/my laws.toml") == '"runs/my laws.toml"'
    assert toml_string('C:\\laws\\"x".toml') == '"C:\\\\laws\\\\\\"x\\".toml"'
