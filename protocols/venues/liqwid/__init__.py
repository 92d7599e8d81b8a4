"""Liqwid Finance: pooled money markets with qTokens (lending.md §1 and §6.1)."""
