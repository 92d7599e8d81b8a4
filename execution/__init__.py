"""Execution: talking to DexHunter (quotes, builds, orders), checking every transaction before it may be signed; signing and submission come with the live path."""
