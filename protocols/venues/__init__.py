"""Importing this package registers every venue watcher (one import line per venue).

The venues issue adds Liqwid, Surf and Levvy here.
"""
from protocols.venues import levvy  # noqa: F401,E402  (experimental; off until configured)
from protocols.venues import liqwid  # noqa: F401
