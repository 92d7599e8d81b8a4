"""VENUE_MODULES=tests.support.fake_venue_plugin registers the fake venues of
tests/support/fake_venue.py (importing that module alone registers nothing)."""
from tests.support.fake_venue import register_fakes

register_fakes()
