"""Levvy (levvy.fi): peer-to-peer ADA loans against tokens. Experimental, and off until
LEVVY_CONFIG_FILE names its scripts for the network (docs/venues.md)."""
from __future__ import annotations

from protocols.registry import register, unregister

from .source import LevvySource

unregister("levvy")  # importing twice (tests reload) must not fail
register("levvy", LevvySource.from_settings)
