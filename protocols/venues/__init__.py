"""Importing this package registers every venue watcher (one import line per venue).

The venues issue adds Liqwid, Surf and Levvy here.
"""

import protocols.venues.surf  # noqa: F401,E402
