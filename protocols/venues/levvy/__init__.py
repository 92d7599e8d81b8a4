"""Levvy (levvy.fi): peer-to-peer ADA loans against tokens."""
