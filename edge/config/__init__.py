"""The device's configuration: typed sections read from one TOML file.

`config/edge.example.toml` is the one table of keys; edge/config/sections.py
declares each key with its type, default and what is allowed.
"""

from edge.config.load import DEFAULT_CONTENT_DIR, SCHEMA, Config, allow_list, from_mapping, load
from edge.config.sections import SECTIONS

__all__ = [
    "DEFAULT_CONTENT_DIR",
    "SCHEMA",
    "SECTIONS",
    "Config",
    "allow_list",
    "from_mapping",
    "load",
]
