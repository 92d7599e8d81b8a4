"""DexHunter's partner API: the client (api.py) over pure modules (wire amounts, answers,
errors, the slippage schedule). Reference: ../shared/reference/dexhunter.md."""
