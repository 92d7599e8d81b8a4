"""Importing this package registers every venue watcher (one import line per venue).

The venues issue adds Liqwid, Surf and Levvy here.
"""
from protocols.venues import liqwid  # noqa: F401
