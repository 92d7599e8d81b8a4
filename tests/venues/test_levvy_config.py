"""LEVVY_CONFIG_FILE: the example in docs/ parses, every bad field is a ConfigError that
names it, and without the file (or without the network's section) Levvy is off and says
exactly why."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.settings import PROJECT_ROOT, settings_from_mapping
from protocols.venues.levvy.config import (
    DEFAULT_EXECUTION_UNITS,
    load_config,
    parse_config,
)
from protocols.venues.levvy.source import NOT_CONFIGURED, LevvySource

EXAMPLE = PROJECT_ROOT / "docs" / "levvy-config.example.json"
MAINNET_HASH = "343f54d6adfb256b1e9041a72a8b519670086570d5611df499c797aa"
MAINNET_ADDR = ("addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3s"
                "q835lu7drv2xwl2wywfgse35a3x")
BUILDER = {"validator_reference": "ab" * 32 + "#1", "reference_script_size": 100,
           "plutus_version": 3, "cost_model": [1, 2, 3]}


def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


def preview(**changes: Any) -> str:
    document = example()
    for key, value in changes.items():
        if value is None:
            document["preview"].pop(key, None)
        else:
            document["preview"][key] = value
    return json.dumps(document)


def test_the_example_in_docs_is_the_preview_testnet_experiment() -> None:
    config = parse_config(EXAMPLE.read_text(), "preview")
    assert config is not None
    assert config.validator_hash.hex() == "fda46e81fdd2e4f1c358d27e7484b9f0860b63b0e8e12e6ab5f87e8c"
    assert config.main_address == "addr_test1vqt848n4vphu7ud4vg6nlzxklg3us6l2gqek5gk4jeqyd9gep0gpv"
    assert config.fees.token_borrower_percent == Decimal("12.5")
    assert config.fees.token_lender_percent == Decimal("12.5")
    assert config.loan_duration_ms == 14 * 86_400_000
    assert config.builder is None  # read only: no reference script is known
    assert "NOT LEVVY'S VERIFIED SCRIPTS" in config.note
    assert parse_config(EXAMPLE.read_text(), "mainnet") is None


def test_numbers_and_strings_give_the_same_decimals_never_floats() -> None:
    config = parse_config(preview(fees={"token_borrower_percent": 12.5,
                                        "token_lender_percent": "12.5"}), "preview")
    assert config is not None
    assert config.fees.token_borrower_percent == config.fees.token_lender_percent
    assert isinstance(config.fees.token_borrower_percent, Decimal)


def test_the_builder_section() -> None:
    config = parse_config(preview(builder=BUILDER), "preview")
    assert config is not None and config.builder is not None
    assert config.builder.execution_units == DEFAULT_EXECUTION_UNITS
    assert config.builder.cost_model == (1, 2, 3)
    units = dict(BUILDER, execution_units={"mem": 5, "steps": 6})
    config = parse_config(preview(builder=units), "preview")
    assert config is not None and config.builder is not None
    assert config.builder.execution_units == (5, 6)


@pytest.mark.parametrize("text, field", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "a JSON object keyed by network name"),
    (preview(validator_script_hashes=None), "preview.validator_script_hashes"),
    (preview(validator_script_hashes=[]), "preview.validator_script_hashes"),
    (preview(validator_script_hashes=["ab" * 27]), r"preview.validator_script_hashes\[0\]"),
    (preview(validator_script_hashes=["zz" * 28]), r"preview.validator_script_hashes\[0\]"),
    (preview(withdraw_zero_script_hash="ab" * 29), "preview.withdraw_zero_script_hash"),
    (preview(policies=["ab"]), r"preview.policies\[0\]"),
    (preview(main_address=MAINNET_ADDR), "preview.main_address"),  # another network's
    (preview(main_address="addr_test1vqt848n4vphu7ud4vg6nlzxklg3us6l2gqek5gk4jeqyd9gep0gpw"),
     "preview.main_address"),  # a bad checksum
    (preview(loan_asset=None), "preview.loan_asset"),
    (preview(loan_asset="usdm"), "preview.loan_asset"),
    (preview(fees=None), "preview.fees"),
    (preview(fees={"token_borrower_percent": 1}), "preview.fees.token_lender_percent"),
    (preview(fees={"token_borrower_percent": 100, "token_lender_percent": 1}),
     "preview.fees.token_borrower_percent"),
    (preview(fees={"token_borrower_percent": "x", "token_lender_percent": 1}),
     "preview.fees.token_borrower_percent"),
    (preview(fees={"token_borrower_percent": 1, "token_lender_percent": 1, "extra": 1}),
     "preview.fees.extra"),
    (preview(loan_duration_ms=0), "preview.loan_duration_ms"),
    (preview(validator_script_hash=MAINNET_HASH), "preview.validator_script_hash"),  # a typo
    (preview(builder=dict(BUILDER, plutus_version=1)), "preview.builder.plutus_version"),
    (preview(builder=dict(BUILDER, cost_model=[])), "preview.builder.cost_model"),
    (preview(builder=dict(BUILDER, validator_reference="ab#1")),
     "preview.builder.validator_reference"),
    (preview(builder={k: v for k, v in BUILDER.items() if k != "reference_script_size"}),
     "preview.builder.reference_script_size"),
    (preview(builder=dict(BUILDER, execution_units={"mem": 1})),
     "preview.builder.execution_units"),
    (preview(builder=dict(BUILDER, cost_models=[1])), "preview.builder.cost_models"),  # a typo
    (json.dumps({"mainnet": {"validator_script_hashes": [MAINNET_HASH], "loan_asset": "lovelace",
                             "fees": {"token_borrower_percent": 1, "token_lender_percent": 1},
                             "main_address": "addr_test1vqt848n4vphu7ud4vg6nlzxklg3us6l2gqek5g"
                                             "k4jeqyd9gep0gpv"}}), "mainnet.main_address"),
])
def test_a_bad_file_is_a_config_error_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field) as raised:
        parse_config(text, "preview")
    assert str(raised.value).startswith("LEVVY_CONFIG_FILE: expected ")


def test_another_networks_bad_section_is_refused_too() -> None:
    text = json.dumps({**example(), "mainnet": {"validator_script_hashes": ["ab"]}})
    with pytest.raises(ConfigError, match=r"mainnet.validator_script_hashes\[0\]"):
        parse_config(text, "preview")


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LEVVY_CONFIG_FILE"):
        load_config(tmp_path / "absent.json", "preview")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(tmp_path / "bin.json", "preview")


# --- on and off --------------------------------------------------------------------------

def test_without_the_file_levvy_is_experimental_and_off_saying_why() -> None:
    source = LevvySource.from_settings(settings_from_mapping({}))
    assert source.experimental and not source.enabled
    assert source.disabled_reason == NOT_CONFIGURED == (
        "Levvy's mainnet scripts are not public: set LEVVY_CONFIG_FILE (docs/venues.md)")
    assert source.watch.needles == []


def test_a_file_without_the_networks_section_leaves_it_off(tmp_path: Path) -> None:
    path = tmp_path / "levvy.json"
    path.write_text(EXAMPLE.read_text())
    source = LevvySource.from_settings(settings_from_mapping({"LEVVY_CONFIG_FILE": str(path)}))
    assert not source.enabled
    assert source.disabled_reason == f"LEVVY_CONFIG_FILE ({path}) has no 'mainnet' section"


def test_the_networks_section_turns_it_on(tmp_path: Path) -> None:
    path = tmp_path / "levvy.json"
    path.write_text(EXAMPLE.read_text())
    settings = settings_from_mapping({"LEVVY_CONFIG_FILE": str(path),
                                      "CARDANO_NETWORK": "preview"})
    source = LevvySource.from_settings(settings)
    assert source.enabled and source.experimental
    assert source.watch.credentials == {bytes.fromhex(
        "fda46e81fdd2e4f1c358d27e7484b9f0860b63b0e8e12e6ab5f87e8c")}
    assert source.watch.policies == frozenset()
    path.write_text(preview(policies=["cd" * 28]))
    source = LevvySource.from_settings(settings)
    assert source.watch.policies == {b"\xcd" * 28}


def test_a_bad_file_stops_the_venue_with_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "levvy.json"
    path.write_text(preview(validator_script_hashes=["ab"]))
    with pytest.raises(ConfigError, match=r"preview.validator_script_hashes\[0\]"):
        LevvySource.from_settings(settings_from_mapping({"LEVVY_CONFIG_FILE": str(path)}))


def test_registered_and_run_by_the_pipeline_only_when_on(tmp_path: Path) -> None:
    import protocols.venues  # noqa: F401  (registers Levvy)
    from indexer.watchers import active_watchers
    from protocols.registry import registered_venues

    off = settings_from_mapping({})
    venues = registered_venues(off)
    assert isinstance(venues["levvy"], LevvySource) and not venues["levvy"].enabled
    assert "levvy" not in active_watchers(off)
    path = tmp_path / "levvy.json"
    path.write_text(EXAMPLE.read_text())
    on = settings_from_mapping({"LEVVY_CONFIG_FILE": str(path), "CARDANO_NETWORK": "preview"})
    assert "levvy" in active_watchers(on)
