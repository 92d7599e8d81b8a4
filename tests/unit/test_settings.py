from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import (NETWORK_MAGICS, PROJECT_ROOT, Settings, load_settings, read_environment,
                           settings_from_mapping)

PREPROD_ADDR = ("addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8c"
                "c3sq835lu7drv2xwl2wywfgs68faae")
MAINNET_ADDR = ("addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3s"
                "q835lu7drv2xwl2wywfgse35a3x")


def error_of(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(env)
    return caught.value


def test_defaults_give_the_embedded_paper_stack():
    s = settings_from_mapping({})
    assert s.mode == "paper" and s.paper
    assert s.port == 8000 and s.bind_host == "127.0.0.1"
    assert s.mongo_url.startswith("mongodb://127.0.0.1")
    assert s.broker_url == s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.cardano_network.magic == NETWORK_MAGICS["mainnet"]
    assert s.fixtures_dir == PROJECT_ROOT.parent / "shared" / "fixtures"
    assert s.explicit == frozenset()


def test_values_are_parsed_and_remembered_as_explicit():
    s = settings_from_mapping({"PORT": "8123", "CARDANO_NETWORK": "preprod",
                               "CARDANO_NODE": "tcp://relay.example:3001", "MODE": "PAPER",
                               "REQUIRE_FOLLOWER": "yes", "CELERY_BROKER_URL": "redis://b:1/2"})
    assert s.port == 8123
    assert (s.cardano_network.name, s.cardano_network.magic) == ("preprod", 1)
    assert (s.cardano_node.scheme, s.cardano_node.host, s.cardano_node.port) == \
        ("tcp", "relay.example", 3001)
    assert s.mode == "paper" and s.require_follower is True
    assert s.broker_url == "redis://b:1/2"
    assert {"PORT", "CARDANO_NETWORK", "CARDANO_NODE"} <= s.explicit


def test_unix_socket_node_and_numeric_magic():
    s = settings_from_mapping({"CARDANO_NODE": "unix:///ipc/node.socket", "CARDANO_NETWORK": "42"})
    assert (s.cardano_node.scheme, s.cardano_node.path) == ("unix", "/ipc/node.socket")
    assert str(s.cardano_node) == "unix:///ipc/node.socket"
    assert s.cardano_network.name == "magic-42"
    assert settings_from_mapping({"CARDANO_NETWORK": "2"}).cardano_network.name == "preview"


@pytest.mark.parametrize("variable,value,expected", [
    ("PORT", "abc", "PORT: expected a TCP port number 1-65535, got 'abc'"),
    ("PORT", "70000", "PORT: expected a TCP port number 1-65535, got '70000'"),
    ("MODE", "yolo", "MODE: expected one of paper, live, got 'yolo'"),
    ("MONGO_URL", "postgres://x", "MONGO_URL: expected a mongodb:// or mongodb+srv:// URL"),
    ("REDIS_URL", "redis://h:notaport/0", "REDIS_URL: expected a redis://host:port/db URL"),
    ("CARDANO_NODE", "tcp://relay", "CARDANO_NODE: expected tcp://host:port"),
    ("CARDANO_NODE", "unix://relative", "CARDANO_NODE: expected tcp://host:port"),
    ("CARDANO_NETWORK", "moon", "CARDANO_NETWORK: expected mainnet, preprod, preview"),
    ("DEXHUNTER_API_URL", "ftp://x", "DEXHUNTER_API_URL: expected an http:// or https:// URL"),
    ("MONGO_DB", "a b", "MONGO_DB: expected 1-63 letters"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL: expected one of DEBUG"),
    ("FOLLOWER_MAX_LAG_SECONDS", "-1", "FOLLOWER_MAX_LAG_SECONDS: expected a positive"),
    ("SPENT_UTXO_RETENTION_BLOCKS", "-5", "SPENT_UTXO_RETENTION_BLOCKS: expected a whole"),
    ("SPENT_UTXO_RETENTION_BLOCKS", "1e3", "SPENT_UTXO_RETENTION_BLOCKS: expected a whole number"),
    ("REQUIRE_FOLLOWER", "maybe", "REQUIRE_FOLLOWER: expected true or false"),
    ("WATCH_ADDRESSES", "addr1nope", "WATCH_ADDRESSES: expected comma-separated Cardano payment"),
    ("MASTER_KEY_FILE", "/no/such/key", "MASTER_KEY_FILE: expected an existing readable file"),
    # Values the old checks let through, which then crashed a process with a traceback
    # (or were silently ignored by pymongo) instead of stopping it at start.
    ("MONGO_URL", "mongodb://h:99999/", "MONGO_URL: expected a mongodb:// or mongodb+srv:// URL"),
    ("MONGO_URL", "mongodb://h/?badoption=1", "MONGO_URL: expected a mongodb://"),
    ("MONGO_URL", "mongodb://h/?directConnection=maybe", "MONGO_URL: expected a mongodb://"),
    ("MONGO_URL", "mongodb+srv://cluster.example.net:27017/", "MONGO_URL: expected a mongodb://"),
    ("REDIS_URL", "redis://h:6379/abc", "REDIS_URL: expected a redis://host:port/db URL"),
    ("REDIS_URL", "redis://h:6379/0?socket_timeout=3", "REDIS_URL: expected a redis://"),
    ("REDIS_URL", "unix:///run/redis.sock", "REDIS_URL: expected a redis://"),
    ("CELERY_BROKER_URL", "redis://h:6379/x", "CELERY_BROKER_URL: expected a redis://"),
    ("BIND_HOST", "localhost:80", "BIND_HOST: expected a host name or IP address"),
    ("BIND_HOST", "999.1.1.1", "BIND_HOST: expected a host name or IP address"),
    ("HEARTBEAT_SECONDS", "99999999999999999999", "HEARTBEAT_SECONDS: expected a positive"),
    ("DEXHUNTER_API_URL", "https://h:99999", "DEXHUNTER_API_URL: expected an http://"),
    ("WATCH_ADDRESSES", "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw",
     "WATCH_ADDRESSES: expected comma-separated Cardano payment addresses"),
    ("FLOWER_PORT", "8000", "FLOWER_PORT: expected a port other than PORT (8000), got '8000'"),
    # An unclosed IPv6 bracket: urlsplit itself refuses it.
    ("MONGO_URL", "mongodb://[::1", "MONGO_URL: expected a mongodb:// or mongodb+srv:// URL"),
    ("REDIS_URL", "redis://:pw-9x@[::1/0", "REDIS_URL: expected a redis://host:port/db URL, "
                                         "got 'redis://:***@[::1/0' (Invalid IPv6 URL)"),
    ("DEXHUNTER_API_URL", "http://[x", "DEXHUNTER_API_URL: expected an http://"),
    ("FLOWER_URL", "http://admin:flower-pw@h:5555", "FLOWER_URL: expected an http:// or "
     "https:// URL without a user or password (it is shown to anyone at /), got "
     "'http://admin:***@h:5555'"),
])
def test_bad_values_name_the_variable_and_what_it_expects(variable, value, expected):
    error = error_of({variable: value})
    assert error.variable == variable
    assert str(error).startswith(expected)
    assert "\n" not in str(error)


def test_secret_values_are_never_echoed():
    error = error_of({"DEXHUNTER_PARTNER_ID": "top secret"})
    assert "top secret" not in str(error)
    assert "10 characters" in str(error)
    error = error_of({"REDIS_URL": "redis://:hunter22@h:bad/0"})
    assert "hunter22" not in str(error)


def test_live_mode_needs_partner_key_and_master_key(tmp_path: Path):
    assert error_of({"MODE": "live"}).variable == "DEXHUNTER_PARTNER_ID"
    assert error_of({"MODE": "live", "DEXHUNTER_PARTNER_ID": "abcd1234"}).variable == \
        "MASTER_KEY_FILE"
    key = tmp_path / "master.key"
    key.write_text("k")
    s = settings_from_mapping({"MODE": "live", "DEXHUNTER_PARTNER_ID": "abcd1234",
                               "MASTER_KEY_FILE": str(key)})
    assert s.mode == "live" and s.master_key_file == key


def test_watch_addresses_must_match_the_network():
    s = settings_from_mapping({"WATCH_ADDRESSES": f" {MAINNET_ADDR} ,"})
    assert s.watch_addresses == (MAINNET_ADDR,)
    assert error_of({"WATCH_ADDRESSES": PREPROD_ADDR}).variable == "WATCH_ADDRESSES"
    s = settings_from_mapping({"WATCH_ADDRESSES": PREPROD_ADDR, "CARDANO_NETWORK": "preprod"})
    assert s.watch_addresses == (PREPROD_ADDR,)


def test_blank_values_mean_default():
    s = settings_from_mapping({"PORT": "", "MONGO_DB": "  ", "CARDANO_NODE": ""})
    assert s.port == 8000 and s.mongo_db == "dhl" and s.cardano_node is None


def test_spent_utxo_retention_defaults_to_pruning_once_final():
    assert settings_from_mapping({}).spent_utxo_retention_blocks == 0
    assert settings_from_mapping({"SPENT_UTXO_RETENTION_BLOCKS": "0"}) \
        .spent_utxo_retention_blocks == 0
    assert settings_from_mapping({"SPENT_UTXO_RETENTION_BLOCKS": " 43200 "}) \
        .spent_utxo_retention_blocks == 43200


def test_environment_wins_over_dotenv(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9001\nMONGO_DB=fromfile\n")
    s = load_settings({"PORT": "9002"}, dotenv_path=dotenv)
    assert (s.port, s.mongo_db) == (9002, "fromfile")
    assert read_environment({}, dotenv_path=tmp_path / "absent") == {}


def test_public_view_hides_secrets_and_passwords():
    s = settings_from_mapping({"DEXHUNTER_PARTNER_ID": "partner-secret-1",
                               "MONGO_URL": "mongodb://u:pw-secret@h:27017/"})
    view = s.public_view()
    assert view["DEXHUNTER_PARTNER_ID"] == "***"
    assert view["MONGO_URL"] == "mongodb://u:***@h:27017/"
    assert "partner-secret-1" not in repr(s) and "partner-secret-1" not in str(view)
    assert set(s.secret_values()) == {"partner-secret-1", "pw-secret"}


def test_settings_are_immutable():
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


@pytest.mark.parametrize("variable,value", [
    ("MONGO_URL", "mongodb://u:p@h1:27017,h2:27017/dhl?replicaSet=rs0&authSource=admin"),
    ("MONGO_URL", "mongodb+srv://cluster0.example.net/?retryWrites=true"),  # no DNS at start
    ("REDIS_URL", "rediss://:pw@h:6380/2?ssl_cert_reqs=required"),
    ("REDIS_URL", "redis://h"),
    ("BIND_HOST", "::"),
    ("BIND_HOST", "relay-1.example.org"),
    ("HEARTBEAT_SECONDS", "86400"),
    ("WATCH_ADDRESSES", "Ae2tdPwUPEZFRbyhz3cpfC2CumGzNkFBN2L42rcUc2yjQpEkxDbkPodpMAi"),  # Byron
])
def test_stricter_checks_still_accept_good_values(variable, value):
    settings = settings_from_mapping({variable: value})
    assert variable in settings.explicit


def test_a_url_problem_never_shows_its_password():
    error = error_of({"MONGO_URL": "mongodb://u:pw-secret-9@h:27017/?authMechanism=BOGUS"})
    assert error.variable == "MONGO_URL" and "authmechanism" in str(error).lower()
    assert "pw-secret-9" not in str(error)


def test_replay_checks_addresses_against_the_replayed_network():
    # dhl run without CARDANO_NODE replays recorded preprod blocks.
    s = settings_from_mapping({"WATCH_ADDRESSES": PREPROD_ADDR}, replay=True)
    assert s.cardano_network.name == "preprod" and s.watch_addresses == (PREPROD_ADDR,)
    error = error_of_replay({"WATCH_ADDRESSES": MAINNET_ADDR})
    assert error.variable == "WATCH_ADDRESSES"
    assert str(error) == ("WATCH_ADDRESSES: expected addresses of the preprod network (the "
                          "network dhl run replays while CARDANO_NODE is unset), got "
                          f"'{MAINNET_ADDR}'")
    # An explicit other network is not silently replaced.
    error = error_of_replay({"CARDANO_NETWORK": "mainnet"})
    assert error.variable == "CARDANO_NETWORK" and "CARDANO_NODE is unset" in str(error)
    assert settings_from_mapping({"CARDANO_NETWORK": "1"}, replay=True).cardano_network.magic == 1


def test_replay_changes_nothing_when_a_node_is_set():
    s = settings_from_mapping({"CARDANO_NODE": "tcp://relay:3001", "WATCH_ADDRESSES": MAINNET_ADDR},
                              replay=True)
    assert s.cardano_network.is_mainnet
    assert error_of_replay({"CARDANO_NODE": "tcp://relay:3001",
                            "WATCH_ADDRESSES": PREPROD_ADDR}).variable == "WATCH_ADDRESSES"


def error_of_replay(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(env, replay=True)
    return caught.value


def test_an_unreadable_dotenv_is_a_config_error(tmp_path: Path):
    (tmp_path / ".env").write_bytes(b"PORT=\xff\xfe\n")  # not UTF-8
    with pytest.raises(ConfigError) as caught:
        load_settings({}, dotenv_path=tmp_path / ".env")
    assert caught.value.variable == ".env" and "UnicodeDecodeError" in str(caught.value)
