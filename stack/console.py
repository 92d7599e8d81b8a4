"""What `dhl run` tells the operator: one prefixed line at a time, in order with honcho's."""
from __future__ import annotations


def say(message: str) -> None:
    print(f"dhl run | {message}", flush=True)
