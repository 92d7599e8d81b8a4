"""Era numbering and era detection for blocks that come without the `[tag, block]` wrapper.

Two numberings exist on the wire (reference/ouroboros.md section 6): the block tag of
`[tag, block]` (0 = Byron EBB, 1 = Byron main, 2 = Shelley ... 7 = Conway) and the HFC era
index of N2N chain-sync headers (0 = Byron ... 6 = Conway).
"""
from __future__ import annotations

from .errors import LedgerError

ERA_BY_TAG: dict[int, str] = {
    0: "byron", 1: "byron", 2: "shelley", 3: "allegra", 4: "mary",
    5: "alonzo", 6: "babbage", 7: "conway",
}
ERA_BY_HFC_INDEX: dict[int, str] = {
    0: "byron", 1: "shelley", 2: "allegra", 3: "mary", 4: "alonzo", 5: "babbage", 6: "conway",
}
TAG_BY_ERA: dict[str, int] = {era: tag for tag, era in ERA_BY_TAG.items() if tag >= 2}

MAINNET_MAGIC = 764824073
BYRON_EPOCH_SLOTS = 21600  # 10 * k with k = 2160, on every public network

# First slot of each era on mainnet (cardano-node hard-fork points).
MAINNET_ERA_STARTS: tuple[tuple[str, int], ...] = (
    ("shelley", 4492800),
    ("allegra", 16588800),
    ("mary", 23068800),
    ("alonzo", 39916975),
    ("babbage", 72316896),
    ("conway", 133660800),
)

# Shelley-family shapes: (header body fields, block elements) -> eras with that shape.
SHAPE_ERAS: dict[tuple[int, int], tuple[str, ...]] = {
    (15, 4): ("shelley", "allegra", "mary"),
    (15, 5): ("alonzo",),
    (10, 5): ("babbage", "conway"),
}
ERA_SHAPE: dict[str, tuple[int, int]] = {era: s for s, eras in SHAPE_ERAS.items() for era in eras}


def mainnet_era_at(slot: int) -> str:
    era = "byron"
    for name, start in MAINNET_ERA_STARTS:
        if slot < start:
            break
        era = name
    return era


def _by_protocol_version(shape: tuple[int, int], major: int) -> str:
    # The header carries the version the producer's node *supports*, which may already be
    # the next era's (e.g. Allegra blocks announcing 4.0 before the Mary fork), so this is
    # only a best guess for networks whose fork slots we do not know.
    if shape == (15, 4):
        return "shelley" if major <= 2 else "allegra" if major == 3 else "mary"
    if shape == (15, 5):
        return "alonzo"
    return "conway" if major >= 9 else "babbage"


def detect_shelley_era(
    fields: int, elements: int, slot: int, protocol_major: int, network_magic: int | None
) -> str:
    """Era of an unwrapped Shelley-family block from its shape, slot and protocol version."""
    shape = (fields, elements)
    candidates = SHAPE_ERAS.get(shape)
    if candidates is None:
        raise LedgerError(
            f"block: header body with {fields} fields in a {elements}-element block "
            "matches no era"
        )
    if len(candidates) == 1:
        return candidates[0]
    if network_magic is None or network_magic == MAINNET_MAGIC:
        by_slot = mainnet_era_at(slot)
        if by_slot in candidates:
            return by_slot
        if network_magic == MAINNET_MAGIC:
            raise LedgerError(
                f"block: a {'/'.join(candidates)}-shaped block at slot {slot}, "
                f"which is {by_slot} on mainnet"
            )
        # No network given and the slot does not fit mainnet: a testnet block.
    return _by_protocol_version(shape, protocol_major)
