"""Importing this package registers every lending venue (one import line per venue)."""
from protocols.venues import levvy  # noqa: F401  (experimental; off until configured)
from protocols.venues import liqwid  # noqa: F401
from protocols.venues import surf  # noqa: F401
