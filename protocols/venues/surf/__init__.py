"""Surf (formerly Flow Lending): isolated pools with a batcher, cTokens, loans as vaults
(lending.md §3 and §6.2; docs/venues.md, Surf). Importing this registers the venue."""
from __future__ import annotations

from protocols.registry import register, unregister
from protocols.venues.surf.source import SurfSource

unregister("surf")
register("surf", SurfSource.from_settings)

__all__ = ["SurfSource"]
