"""The recorded real data in FIXTURES_DIR (../shared/fixtures by default), read in place."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import load_settings


def fixtures_dir() -> Path:
    path = load_settings().fixtures_dir
    if not (path / "cardano").is_dir():
        pytest.skip(f"recorded fixtures not found at {path} (set FIXTURES_DIR)")
    return path


def cardano(name: str) -> Path:
    return fixtures_dir() / "cardano" / name


def hex_bytes(name: str) -> bytes:
    return bytes.fromhex(cardano(name).read_text().strip())
