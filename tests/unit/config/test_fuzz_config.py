"""Fuzz: config loading gives a Config or a ConfigError / ConfigFileError naming the key
(or the file), never another exception."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.config import load
from edge.errors import ConfigFileError
from tests.support import fuzz_targets as ft
from tests.support.examples import examples

FUZZ = settings(max_examples=examples(200), deadline=None)
FILES = settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("config") / "edge.toml"


@FUZZ
@given(st.randoms(use_true_random=False))
def test_random_valued_tables_give_a_config_or_a_config_error(rng: random.Random) -> None:
    ft.config_table_target(ft.gen_config_table(rng))


@FILES
@given(st.randoms(use_true_random=False))
def test_mutated_config_files_give_a_config_or_a_config_error(
    config_path: Path, rng: random.Random
) -> None:
    ft.config_file_target(config_path, ft.gen_config_text(rng))


@FILES
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")))
@example(b'[device]\nstore_id = "\xff"\n')
def test_random_bytes_give_a_config_or_a_config_error(config_path: Path, text: bytes) -> None:
    ft.config_file_target(config_path, text)


def test_a_config_file_that_is_not_utf8_is_a_config_file_error(tmp_path: Path) -> None:
    """Found by fuzzing: tomllib let UnicodeDecodeError through as a traceback."""
    path = tmp_path / "edge.toml"
    path.write_bytes(b'[device]\nstore_id = "caf\xe9"\n')  # Latin-1, as an old editor saves it
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        load(path)
