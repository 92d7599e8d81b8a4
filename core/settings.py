"""The one place configuration is read: environment variables and an optional `.env`.

Every variable has a parser that either returns a typed value or raises
`ConfigError` naming the variable and what it expects. `load_settings()` parses all
of them at start, so a process with a bad setting stops before it does anything,
with one clear line (see `load_settings_or_exit`). Defaults give the embedded
paper-mode stack.
"""
from __future__ import annotations

import ipaddress
import os
import re
import sys
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

from dotenv import dotenv_values

from core.node_address import EXPECTED as NODE_EXPECTED
from core.node_address import NodeAddress, parse_node_address
from core.decimals import finite_decimal
from core.errors import ConfigError
from core.secrets import Secret

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: Network magics of the public Cardano networks (ouroboros-network, Magic.hs).
NETWORK_MAGICS: dict[str, int] = {"mainnet": 764824073, "preprod": 1, "preview": 2}
MODES = ("paper", "live")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Network:
    name: str  # mainnet, preprod, preview, or "magic-<n>" for a private network
    magic: int

    @property
    def is_mainnet(self) -> bool:
        return self.magic == NETWORK_MAGICS["mainnet"]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Settings:
    mode: str = "paper"
    port: int = 8000
    bind_host: str = "127.0.0.1"
    flower_port: int = 5555
    flower_url: str = ""  # empty: the web index does not link to Flower
    log_level: str = "INFO"
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_db: str = "dhl"
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_broker_url: str = ""  # empty: the broker is REDIS_URL
    redis_namespace: str = "dhl"
    cardano_node: NodeAddress | None = None
    cardano_network: Network = Network("mainnet", NETWORK_MAGICS["mainnet"])
    dexhunter_api_url: str = "https://api-us.dexhunterv3.app"
    dexhunter_partner_id: Secret = field(default_factory=lambda: Secret(""))
    liqwid_api_url: str = "https://v2.api.liqwid.finance/graphql"
    surf_api_url: str = "https://surflending.org/api"
    watch_addresses: tuple[str, ...] = ()
    master_key_file: Path | None = None
    data_dir: Path = PROJECT_ROOT / "var"
    fixtures_dir: Path = PROJECT_ROOT.parent / "shared" / "fixtures"
    follower_max_lag_seconds: int = 300
    require_follower: bool = False
    heartbeat_seconds: int = 15
    follow_from: str = "tip"  # "origin", "tip" or "SLOT.HASH"
    watcher_lease_seconds: int = 60
    spent_utxo_retention_blocks: int = 0  # 0: a spent UTxO goes once it is final
    follower_lease_seconds: int = 15
    venue_modules: tuple[str, ...] = ()
    venues: tuple[str, ...] = ("liqwid", "surf", "levvy")
    market_max_age_seconds: int = 900
    market_refresh_seconds: int = 60
    guard_tick_seconds: int = 5
    price_max_age_seconds: int = 300
    cors_origins: tuple[str, ...] = ()
    api_max_body_bytes: int = 262_144
    api_rate_per_minute: int = 120
    ws_replay_events: int = 1000  # per user, what a reconnecting client can catch up on
    ws_heartbeat_seconds: int = 15
    ws_max_pending: int = 256  # messages waiting for one client before it is dropped
    health_refresh_seconds: int = 60
    venue_api_timeout_seconds: int = 10
    levvy_config_file: Path | None = None
    paper_seed: int = 20260101  # fixed: the same paper market in every run unless changed
    paper_volatility: Decimal = Decimal("0.002")  # of the log-price, per 20 s step
    paper_prices_csv: Path | None = None
    #: The wallet paper positions trade from: a fixed address whose key nobody holds
    #: (its key hash is blake2b-224 of "dh-leverage paper wallet"); nothing is signed.
    paper_wallet_address: str = "addr1v98gejc7q9h5zlqgvmcwn6wsfw3j6uzssss6pu47sedlh2grywj8d"
    swap_slippage_percent: Decimal = Decimal("1")
    dexhunter_min_interval_ms: int = 250  # politeness: between two requests of one client
    #: Where DexHunter's builds pay the partner and DexHunter fees: the address its live
    #: build paid them to (fixtures dexhunter/swap-build, a public chain fact).
    dexhunter_fee_addresses: tuple[str, ...] = (
        "addr1q8l7hny7x96fadvq8cukyqkcfca5xmkrvfrrkt7hp76v3qvssm7fz9ajmtd58ksljgkyvqu6gl23"
        "hlcfgv7um5v0rn8qtnzlfk",)
    position_lock_seconds: int = 30
    test_exit_after_events: frozenset[int] = frozenset()  # tests only
    live_confirmations: int = 3
    test_exit_after_submit: bool = False  # tests only
    test_exit_after_guard_claim: bool = False  # tests only
    #: Names of the variables that were set explicitly (env or .env), so the stack
    #: runner knows which services the operator chose and which it should embed.
    explicit: frozenset[str] = frozenset()

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def paper(self) -> bool:
        return self.mode == "paper"

    def secret_values(self) -> list[str]:
        """Every secret this process knows, for the logging redaction filter."""
        values = [self.dexhunter_partner_id.reveal()]
        for url in (self.mongo_url, self.redis_url, self.broker_url):
            password = urlsplit(url).password
            if password:
                values.append(password)
        return [v for v in values if v]

    def public_view(self) -> dict[str, str]:
        """The settings as an operator may see them: secrets and URL passwords hidden."""
        view: dict[str, str] = {}
        for spec in SPECS:
            value = getattr(self, spec.attribute)
            if isinstance(value, Secret):
                shown = "***" if value else ""
            elif spec.attribute.endswith("_url") and isinstance(value, str):
                shown = redact_url(value)
            elif isinstance(value, tuple):
                shown = ",".join(value)
            elif value is None:
                shown = ""
            else:
                shown = str(value)
            view[spec.variable] = shown
        return view


_USERINFO = re.compile(r"(://[^/?#]*?:)[^/?#]*@")


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (for logs and `dhl config`)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: hide whatever sits before an @
        return _USERINFO.sub(r"\1***@", url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


# --- parsers: pure functions from the raw string to a typed value -----------------------

def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str, str], str]:
    def parse(variable: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in options:
            raise ConfigError(variable, "one of " + ", ".join(options), repr(raw))
        return value

    return parse


def parse_port(variable: str, raw: str) -> int:
    try:
        port = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(variable, "a TCP port number 1-65535", repr(raw)) from None
    if not 1 <= port <= 65535:
        raise ConfigError(variable, "a TCP port number 1-65535", repr(raw))
    return port


#: Upper bound of the durations in seconds: beyond it Celery's schedule and Redis expiries
#: overflow (a huge value would crash beat at its first tick, not at start).
MAX_SECONDS = 1_000_000


def parse_positive_int(variable: str, raw: str) -> int:
    expected = f"a positive whole number up to {MAX_SECONDS}"
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(variable, expected, repr(raw)) from None
    if not 0 < value <= MAX_SECONDS:
        raise ConfigError(variable, expected, repr(raw))
    return value


def parse_non_negative_int(variable: str, raw: str) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(variable, "a whole number, 0 or more", repr(raw)) from None
    if value < 0:
        raise ConfigError(variable, "a whole number, 0 or more", repr(raw))
    return value


#: Above this a per-step volatility is noise, not a market (trading/paper_market.py agrees).
MAX_PAPER_VOLATILITY = Decimal("0.1")


def _decimal_in(variable: str, raw: str, expected: str, *, low: Decimal, high: Decimal,
                low_included: bool) -> Decimal:
    """A finite decimal in [low, high] (or (low, high]), else ConfigError saying `expected`."""
    try:
        value = finite_decimal(raw.strip())
    except ValueError:
        raise ConfigError(variable, expected, repr(raw)) from None
    above_low = value >= low if low_included else value > low
    if not (above_low and value <= high):
        raise ConfigError(variable, expected, repr(raw))
    return value


def parse_volatility(variable: str, raw: str) -> Decimal:
    return _decimal_in(variable, raw, f"a decimal from 0 to {MAX_PAPER_VOLATILITY} (e.g. 0.002)",
                       low=Decimal(0), high=MAX_PAPER_VOLATILITY, low_included=True)


def parse_seqs(variable: str, raw: str) -> frozenset[int]:
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not all(item.isdigit() and 0 < int(item) < 10 ** 6 for item in items):
        raise ConfigError(variable, "comma-separated event seqs (1, 2, ...)", repr(raw))
    return frozenset(int(item) for item in items)


MAX_SLIPPAGE_PERCENT = Decimal(50)


def parse_slippage(variable: str, raw: str) -> Decimal:
    return _decimal_in(variable, raw,
                       f"a percent above 0 and at most {MAX_SLIPPAGE_PERCENT} (e.g. 1 for 1%)",
                       low=Decimal(0), high=MAX_SLIPPAGE_PERCENT, low_included=False)


def parse_bool(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, "true or false", repr(raw))


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_host(variable: str, raw: str) -> str:
    """A host name, IPv4 or IPv6 address, without a port (PORT says that)."""
    host = raw.strip()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    # All-digit labels are a malformed IPv4 address (999.1.1.1), not a name.
    if (not host or len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels)
            or all(label.isdigit() for label in labels)):
        raise ConfigError(variable, "a host name or IP address (without a port)", repr(raw))
    return host


def _url(schemes: tuple[str, ...], what: str,
         check: Callable[[str], str | None] | None = None) -> Callable[[str, str], str]:
    """A URL parser; `check` returns why a well-formed URL is still unusable, or None."""
    def parse(variable: str, raw: str) -> str:
        url = raw.strip()
        shown = repr(redact_url(url))
        try:
            parts = urlsplit(url)
        except ValueError as error:  # "Invalid IPv6 URL"
            raise ConfigError(variable, what, f"{shown} ({error})") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigError(variable, what, shown)
        try:
            # Raises ValueError on a malformed or out-of-range port. A MongoDB host list
            # (h1:27017,h2:27017) is not one host and port: `check` reads it.
            port = parts.port if "," not in parts.netloc else None
        except ValueError:
            port = 0
        if port == 0:
            raise ConfigError(variable, what, f"{shown} (bad port)")
        problem = check(url) if check else None
        if problem:
            # The reason may quote the URL: never its password.
            if parts.password:
                problem = problem.replace(parts.password, "***")
            raise ConfigError(variable, what, f"{shown} ({problem})")
        return url.rstrip("/") if parts.scheme in ("http", "https") else url

    return parse


def _mongo_problem(url: str) -> str | None:
    """What pymongo would refuse (or, worse, warn about and ignore) in this URL."""
    from pymongo.uri_parser import parse_uri

    srv = url.startswith("mongodb+srv://")
    if srv:
        parts = urlsplit(url)
        if "," in parts.netloc or parts.port is not None:
            return "a mongodb+srv:// URL names one host and no port"
        # The SRV record is looked up when the client connects, not here: check the rest.
        url = "mongodb://" + url[len("mongodb+srv://"):]
    try:
        parse_uri(url, validate=True, warn=False)
    except Exception as error:  # InvalidURI, ConfigurationError, ValueError
        return str(error)
    return None


def _redis_problem(url: str) -> str | None:
    """What redis-py or Celery's Redis transport would fail on, later, in a worker."""
    from redis.connection import parse_url

    parts = urlsplit(url)
    if parts.path not in ("", "/") and not parts.path[1:].isdigit():
        return "the database after the port must be a number"
    options = [key for key, _ in parse_qsl(parts.query, keep_blank_values=True)]
    if any(not key.startswith("ssl_") for key in options):
        # Celery passes them on to a connection class that rejects them.
        return "only ssl_* options are accepted after '?'"
    try:
        parse_url(url)
    except ValueError as error:
        return str(error)
    return None


parse_mongo_url = _url(("mongodb", "mongodb+srv"), "a mongodb:// or mongodb+srv:// URL",
                       _mongo_problem)
# No unix:// socket: Celery's broker and result backend do not take that form.
parse_redis_url = _url(("redis", "rediss"), "a redis://host:port/db URL", _redis_problem)
parse_http_url = _url(("http", "https"), "an http:// or https:// URL")


def parse_optional_redis_url(variable: str, raw: str) -> str:
    return parse_redis_url(variable, raw) if raw.strip() else ""


def parse_optional_http_url(variable: str, raw: str) -> str:
    return parse_http_url(variable, raw) if raw.strip() else ""


def parse_origins(variable: str, raw: str) -> tuple[str, ...]:
    """Comma-separated web origins (scheme://host[:port], no path) allowed by CORS."""
    found = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path \
                or parts.query or "@" in parts.netloc:
            raise ConfigError(variable, "comma-separated origins like https://app.example",
                              repr(item[:80]))
        found.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(found)


def parse_optional_public_url(variable: str, raw: str) -> str:
    """A link the service shows to anyone (at `/`, in the banner): no credentials in it."""
    url = parse_optional_http_url(variable, raw)
    if url and "@" in urlsplit(url).netloc:
        raise ConfigError(variable, "an http:// or https:// URL without a user or password "
                                    "(it is shown to anyone at /)", repr(redact_url(url)))
    return url


def parse_name(variable: str, raw: str) -> str:
    """A database name or key namespace: letters, digits, '-' and '_' only."""
    value = raw.strip()
    if not value or len(value) > 63 or not all(c.isalnum() or c in "-_" for c in value):
        raise ConfigError(variable, "1-63 letters, digits, '-' or '_'", repr(raw))
    return value


def parse_node(variable: str, raw: str) -> NodeAddress | None:
    if not raw.strip():
        return None
    try:
        return parse_node_address(raw)
    except ValueError:
        raise ConfigError(variable, NODE_EXPECTED, repr(raw)) from None


#: Every form FOLLOW_FROM and `dhl tail --from` take, and no other.
START_FORMS = "origin, tip or SLOT.HASH (a block's slot and 64-hex-digit hash)"
_POINT = re.compile(r"[0-9]+\.[0-9a-fA-F]{64}")


def parse_start(variable: str, raw: str) -> str:
    """`origin`, `tip` or `SLOT.HASH`; the follower turns the last into a chain point."""
    value = raw.strip()
    if value in ("origin", "tip"):
        return value
    if _POINT.fullmatch(value):
        slot, block_hash = value.split(".")
        return f"{int(slot)}.{block_hash.lower()}"
    raise ConfigError(variable, START_FORMS, repr(raw))


def parse_modules(variable: str, raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ConfigError(variable, "comma-separated Python module names", repr(name))
    return names


def parse_network(variable: str, raw: str) -> Network:
    value = raw.strip().lower()
    if value in NETWORK_MAGICS:
        return Network(value, NETWORK_MAGICS[value])
    if value.isdigit() and 0 <= int(value) <= 0xFFFFFFFF:
        magic = int(value)
        for name, known in NETWORK_MAGICS.items():
            if known == magic:
                return Network(name, magic)
        return Network(f"magic-{magic}", magic)
    raise ConfigError(variable, "mainnet, preprod, preview or a network magic (0-4294967295)",
                      repr(raw))


def parse_secret(variable: str, raw: str) -> Secret:
    value = raw.strip()
    if value and (len(value) < 4 or any(c.isspace() for c in value)):
        # Never echo a secret, not even a bad one.
        raise ConfigError(variable, "a key of at least 4 characters without spaces",
                          f"a value of {len(value)} characters")
    return Secret(value)


ADDRESS_FORMS = "addr1..., addr_test1... or a Byron address"


def _address(text: str) -> Any:
    """The pycardano Address of `text`, or None when it is not one that can hold UTxOs."""
    from pycardano import Address, AddressType  # heavy import: only when addresses are given

    try:
        address = Address.from_primitive(text)
    except Exception:
        return None
    # A stake (reward) address never holds an output: watching one would index nothing.
    if address.address_type in (AddressType.NONE_KEY, AddressType.NONE_SCRIPT):
        return None
    return address


def parse_address(name: str, raw: str) -> str:
    """One payment address (for a command-line option such as --address)."""
    text = raw.strip()
    if _address(text) is None:
        raise ConfigError(name, f"a Cardano payment address ({ADDRESS_FORMS})", repr(raw))
    return text


def parse_addresses(variable: str, raw: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in addresses:
        if _address(address) is None:
            raise ConfigError(variable, f"comma-separated Cardano payment addresses "
                                        f"({ADDRESS_FORMS})", repr(address))
    return addresses


def address_network_mismatch(address: str, network: Network) -> bool:
    """Whether `address` (already parsed) belongs to another network than `network`."""
    from pycardano import Network as AddressNetwork

    on_mainnet = _address(address).network == AddressNetwork.MAINNET
    return on_mainnet != network.is_mainnet


def parse_venue_names(variable: str, raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name):
            raise ConfigError(variable, "comma-separated venue names (liqwid,surf,levvy)",
                              repr(raw))
    return names


def parse_optional_path(variable: str, raw: str) -> Path | None:
    value = raw.strip()
    return _resolve(Path(value)) if value else None


def parse_path(variable: str, raw: str) -> Path:
    value = raw.strip()
    if not value:
        raise ConfigError(variable, "a file system path", "an empty value")
    return _resolve(Path(value))


def _resolve(path: Path) -> Path:
    # Relative paths are taken from the project root, so the same .env works from
    # any working directory.
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


@dataclass(frozen=True)
class Spec:
    variable: str
    attribute: str
    parse: Callable[[str, str], object]
    help: str


SPECS: tuple[Spec, ...] = (
    Spec("MODE", "mode", _choice(MODES), "paper (simulated fills, signs nothing) or live"),
    Spec("PORT", "port", parse_port, "HTTP port of the web process"),
    Spec("BIND_HOST", "bind_host", parse_host, "address the web process listens on"),
    Spec("FLOWER_PORT", "flower_port", parse_port, "port of Flower (Celery monitoring)"),
    Spec("FLOWER_URL", "flower_url", parse_optional_public_url,
         "Flower's address, linked from the web index at /; dhl run sets it"),
    Spec("LOG_LEVEL", "log_level", _choice(LOG_LEVELS, upper=True), "logging level"),
    Spec("MONGO_URL", "mongo_url", parse_mongo_url, "MongoDB; unset: embedded nx-27017"),
    Spec("MONGO_DB", "mongo_db", parse_name, "MongoDB database name"),
    Spec("REDIS_URL", "redis_url", parse_redis_url, "Redis; unset: local or embedded"),
    Spec("CELERY_BROKER_URL", "celery_broker_url", parse_optional_redis_url,
         "Celery broker; unset: REDIS_URL"),
    Spec("REDIS_NAMESPACE", "redis_namespace", parse_name,
         "prefix of every Redis key and queue the project owns"),
    Spec("CARDANO_NODE", "cardano_node", parse_node, "tcp://relay:port or unix:///node.socket"),
    Spec("CARDANO_NETWORK", "cardano_network", parse_network, "mainnet, preprod, preview or magic"),
    Spec("DEXHUNTER_API_URL", "dexhunter_api_url", parse_http_url, "DexHunter partner API"),
    Spec("DEXHUNTER_PARTNER_ID", "dexhunter_partner_id", parse_secret,
         "DexHunter partner key (secret)"),
    Spec("LIQWID_API_URL", "liqwid_api_url", parse_http_url, "Liqwid GraphQL API"),
    Spec("SURF_API_URL", "surf_api_url", parse_http_url, "Surf (formerly Flow) lending API"),
    Spec("WATCH_ADDRESSES", "watch_addresses", parse_addresses,
         "extra payment addresses to index"),
    Spec("MASTER_KEY_FILE", "master_key_file", parse_optional_path,
         "master key of managed wallets (live mode)"),
    Spec("DATA_DIR", "data_dir", parse_path, "where embedded services keep their data"),
    Spec("FIXTURES_DIR", "fixtures_dir", parse_path, "recorded real data for replay and tests"),
    Spec("FOLLOWER_MAX_LAG_SECONDS", "follower_max_lag_seconds", parse_positive_int,
         "follower lag above which /ready fails"),
    Spec("REQUIRE_FOLLOWER", "require_follower", parse_bool,
         "fail /ready while no follower reports"),
    Spec("HEARTBEAT_SECONDS", "heartbeat_seconds", parse_positive_int,
         "how often beat asks a worker for a heartbeat"),
    Spec("FOLLOW_FROM", "follow_from", parse_start,
         "where the follower starts without a saved cursor"),
    Spec("FOLLOWER_LEASE_SECONDS", "follower_lease_seconds", parse_positive_int,
         "how long the follower that writes the block log holds it; a standby follower "
         "takes over this long after the writer stops renewing"),
    Spec("WATCHER_LEASE_SECONDS", "watcher_lease_seconds", parse_positive_int,
         "how long a worker holds a venue before another may take over"),
    Spec("SPENT_UTXO_RETENTION_BLOCKS", "spent_utxo_retention_blocks", parse_non_negative_int,
         "blocks beyond k = 2160 that spent UTxOs are kept; 0: pruned once final"),
    Spec("VENUE_MODULES", "venue_modules", parse_modules,
         "extra Python modules that register venue watchers"),
    Spec("VENUES", "venues", parse_venue_names,
         "the lending venues to run (liqwid, surf, levvy); the others stay off"),
    Spec("MARKET_MAX_AGE_SECONDS", "market_max_age_seconds", parse_positive_int,
         "a market whose figures are older than this is stale: shown, never selected"),
    Spec("MARKET_REFRESH_SECONDS", "market_refresh_seconds", parse_positive_int,
         "how often the beat fetches every venue's markets from its API"),
    Spec("GUARD_TICK_SECONDS", "guard_tick_seconds", parse_positive_int,
         "how often the beat checks the guards' take-profit and stop-loss triggers"),
    Spec("CORS_ORIGINS", "cors_origins", parse_origins,
         "web origins (comma-separated) whose pages may call the API; none by default"),
    Spec("API_MAX_BODY_BYTES", "api_max_body_bytes", parse_positive_int,
         "the largest request body the API reads (a larger one is 413)"),
    Spec("API_RATE_PER_MINUTE", "api_rate_per_minute", parse_positive_int,
         "requests per minute per API key (more are 429)"),
    Spec("WS_REPLAY_EVENTS", "ws_replay_events", parse_positive_int,
         "events kept per user for a reconnecting WebSocket client to catch up on"),
    Spec("WS_HEARTBEAT_SECONDS", "ws_heartbeat_seconds", parse_positive_int,
         "a WebSocket client hears at least this often (a heartbeat when nothing else)"),
    Spec("WS_MAX_PENDING", "ws_max_pending", parse_positive_int,
         "messages waiting for one WebSocket client before it is dropped as too slow"),
    Spec("PRICE_MAX_AGE_SECONDS", "price_max_age_seconds", parse_positive_int,
         "how old a price may be before the guards stop acting on it and alert instead"),
    Spec("HEALTH_REFRESH_SECONDS", "health_refresh_seconds", parse_positive_int,
         "how often the health triggers are re-priced from the positions' books"),
    Spec("VENUE_API_TIMEOUT_SECONDS", "venue_api_timeout_seconds", parse_positive_int,
         "how long a venue API may take to answer"),
    Spec("LEVVY_CONFIG_FILE", "levvy_config_file", parse_optional_path,
         "Levvy's scripts per network (JSON); Levvy stays off without it"),
    Spec("PAPER_SEED", "paper_seed", parse_non_negative_int,
         "seed of the paper market's random walk (the same seed, the same prices)"),
    Spec("PAPER_VOLATILITY", "paper_volatility", parse_volatility,
         "paper market: sd of the log-price per 20 s step of its random walk"),
    Spec("PAPER_PRICES_CSV", "paper_prices_csv", parse_optional_path,
         "paper market: a CSV of token,time,price points that replaces the walk for its tokens"),
    Spec("PAPER_WALLET_ADDRESS", "paper_wallet_address", parse_address,
         "the wallet paper positions trade from unless `--address` names one"),
    Spec("SWAP_SLIPPAGE_PERCENT", "swap_slippage_percent", parse_slippage,
         "slippage asked of DexHunter for a position's swaps, in percent"),
    Spec("DEXHUNTER_MIN_INTERVAL_MS", "dexhunter_min_interval_ms", parse_non_negative_int,
         "the least time between two DexHunter requests of one process, in ms"),
    Spec("DEXHUNTER_FEE_ADDRESSES", "dexhunter_fee_addresses", parse_addresses,
         "where a DexHunter build may pay the partner and DexHunter fees (no more than quoted)"),
    Spec("POSITION_LOCK_SECONDS", "position_lock_seconds", parse_positive_int,
         "how long one worker holds a position it is advancing before another may take over"),
    Spec("LIVE_CONFIRMATIONS", "live_confirmations", parse_positive_int,
         "blocks deep (its own counted) before a live leg counts as confirmed"),
    Spec("TEST_EXIT_AFTER_SUBMIT", "test_exit_after_submit", parse_bool,
         "tests only: exit after the node first took a transaction, before recording it"),
    Spec("TEST_EXIT_AFTER_GUARD_CLAIM", "test_exit_after_guard_claim", parse_bool,
         "tests only: a worker process exits at once after claiming a guard's execution, "
         "before acting on it, as if killed"),
    Spec("TEST_EXIT_AFTER_EVENTS", "test_exit_after_events", parse_seqs,
         "tests only: a worker process exits at once after recording a position event "
         "with one of these seqs, as if killed"),
)


def read_environment(environ: Mapping[str, str] | None = None,
                     dotenv_path: Path | None = None) -> dict[str, str]:
    """The process environment over the `.env` file: real variables win."""
    path = dotenv_path if dotenv_path is not None else PROJECT_ROOT / ".env"
    merged: dict[str, str] = {}
    if path.is_file():
        try:
            merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        except (OSError, UnicodeDecodeError) as error:  # unreadable, or not UTF-8
            raise ConfigError(".env", "a readable UTF-8 file of VARIABLE=value lines",
                              f"{str(path)!r} ({type(error).__name__})") from None
    merged.update(os.environ if environ is None else environ)
    return merged


#: What `dhl run` replays when CARDANO_NODE is unset: recorded preprod blocks.
REPLAY_NETWORK = Network("preprod", NETWORK_MAGICS["preprod"])


def settings_from_mapping(values: Mapping[str, str], *, replay: bool = False) -> Settings:
    """Parse and cross-check every variable; raises `ConfigError` on the first bad one.

    `replay`: read them as `dhl run` does. Without CARDANO_NODE it replays recorded
    preprod blocks, so the network is preprod and everything tied to a network (the
    WATCH_ADDRESSES) is checked against it.
    """
    parsed: dict[str, object] = {}
    explicit = set()
    for spec in SPECS:
        raw = values.get(spec.variable)
        if raw is None or (raw.strip() == "" and spec.variable in _EMPTY_MEANS_DEFAULT):
            continue
        parsed[spec.attribute] = spec.parse(spec.variable, raw)
        explicit.add(spec.variable)
    settings = Settings(**parsed, explicit=frozenset(explicit))  # type: ignore[arg-type]
    replaying = replay and settings.cardano_node is None
    if replaying:
        if "CARDANO_NETWORK" in explicit and settings.cardano_network != REPLAY_NETWORK:
            # Better stop than watch preprod while the operator believes it is another network.
            raise ConfigError("CARDANO_NETWORK", f"{REPLAY_NETWORK} or nothing while CARDANO_NODE "
                              f"is unset (dhl run then replays recorded {REPLAY_NETWORK} blocks)",
                              repr(values["CARDANO_NETWORK"]))
        settings = replace(settings, cardano_network=REPLAY_NETWORK)
    _cross_check(settings, replaying)
    return settings


# An empty string for these is the same as unset (a blank line in .env).
_EMPTY_MEANS_DEFAULT = frozenset(
    s.variable for s in SPECS
    if s.variable not in ("CARDANO_NODE", "WATCH_ADDRESSES", "MASTER_KEY_FILE", "VENUE_MODULES",
                          "VENUES", "LEVVY_CONFIG_FILE",
                          "DEXHUNTER_PARTNER_ID", "CELERY_BROKER_URL")
)


def _cross_check(settings: Settings, replaying: bool = False) -> None:
    if settings.mode == "live":
        if not settings.dexhunter_partner_id:
            raise ConfigError("DEXHUNTER_PARTNER_ID", "a DexHunter partner key in live mode", None)
        if settings.master_key_file is None:
            raise ConfigError("MASTER_KEY_FILE", "the path of the master key file in live mode",
                              None)
    if settings.master_key_file is not None and not settings.master_key_file.is_file():
        raise ConfigError("MASTER_KEY_FILE", "an existing readable file",
                          repr(str(settings.master_key_file)))
    if settings.levvy_config_file is not None and not settings.levvy_config_file.is_file():
        raise ConfigError("LEVVY_CONFIG_FILE", "an existing readable file",
                          repr(str(settings.levvy_config_file)))
    if settings.port == settings.flower_port:
        # Both listen on this machine: the second to start would stop the stack.
        raise ConfigError("FLOWER_PORT", f"a port other than PORT ({settings.port})",
                          repr(str(settings.flower_port)))
    network = settings.cardano_network
    source = ("the network dhl run replays while CARDANO_NODE is unset" if replaying
              else "CARDANO_NETWORK")
    for address in settings.watch_addresses:
        if address_network_mismatch(address, network):
            raise ConfigError("WATCH_ADDRESSES", f"addresses of the {network.name} network "
                                                 f"({source})", repr(address))


def check_data_dir(settings: Settings) -> None:
    """`dhl run` keeps its embedded services' data in DATA_DIR: one it cannot create or
    write is a configuration error, said before any service starts."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError("DATA_DIR", "a directory dhl run can create and write",
                          f"{str(path)!r} ({error.strerror or type(error).__name__})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError("DATA_DIR", "a directory dhl run can create and write",
                          f"{str(path)!r} (not writable)")


def load_settings(environ: Mapping[str, str] | None = None,
                  dotenv_path: Path | None = None, *, replay: bool = False) -> Settings:
    return settings_from_mapping(read_environment(environ, dotenv_path), replay=replay)


def load_settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """For process entry points: a bad setting prints one line and exits with status 2."""
    try:
        return load_settings(environ)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
