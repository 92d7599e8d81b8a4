"""A VENUE_MODULES module with a bug: it fails while importing (not an ImportError)."""
raise RuntimeError("venue table out of date\nsecond line of the message")
