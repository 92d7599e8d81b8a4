"""One package per lending venue (Liqwid, Surf, Levvy), each implementing the same
LeverageSource interface and registered by name. The block pipeline issue adds the
registry and the venues issue the venues; docs/adding-a-venue.md describes the plan.
"""
