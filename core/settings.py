"""The one place configuration is read: environment variables and an optional `.env`.

Every variable has a parser that either returns a typed value or raises
`ConfigError` naming the variable and what it expects. `load_settings()` parses all
of them at start, so a process with a bad setting stops before it does anything,
with one clear line (see `load_settings_or_exit`). Defaults give the embedded
paper-mode stack.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values

from core.node_address import EXPECTED as NODE_EXPECTED
from core.node_address import NodeAddress, parse_node_address
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


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (for logs and `dhl config`)."""
    parts = urlsplit(url)
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


def parse_positive_int(variable: str, raw: str) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(variable, "a positive whole number", repr(raw)) from None
    if value <= 0:
        raise ConfigError(variable, "a positive whole number", repr(raw))
    return value


def parse_non_negative_int(variable: str, raw: str) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(variable, "a whole number, 0 or more", repr(raw)) from None
    if value < 0:
        raise ConfigError(variable, "a whole number, 0 or more", repr(raw))
    return value


def parse_bool(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, "true or false", repr(raw))


def parse_host(variable: str, raw: str) -> str:
    host = raw.strip()
    if not host or any(c.isspace() or c in "/@" for c in host):
        raise ConfigError(variable, "a host name or IP address", repr(raw))
    return host


def _url(schemes: tuple[str, ...], what: str) -> Callable[[str, str], str]:
    def parse(variable: str, raw: str) -> str:
        url = raw.strip()
        parts = urlsplit(url)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise ConfigError(variable, what, repr(redact_url(url)))
        if parts.scheme in ("http", "https", "mongodb", "mongodb+srv") and not parts.hostname:
            raise ConfigError(variable, what, repr(redact_url(url)))
        if parts.scheme in ("redis", "rediss"):
            try:
                parts.port  # noqa: B018 - raises ValueError on a malformed port
            except ValueError:
                raise ConfigError(variable, what, repr(redact_url(url))) from None
            if not parts.hostname:
                raise ConfigError(variable, what, repr(redact_url(url)))
        return url.rstrip("/") if parts.scheme in ("http", "https") else url

    return parse


parse_mongo_url = _url(("mongodb", "mongodb+srv"), "a mongodb:// or mongodb+srv:// URL")
parse_redis_url = _url(("redis", "rediss", "unix"), "a redis://host:port/db URL")
parse_http_url = _url(("http", "https"), "an http:// or https:// URL")


def parse_optional_redis_url(variable: str, raw: str) -> str:
    return parse_redis_url(variable, raw) if raw.strip() else ""


def parse_optional_http_url(variable: str, raw: str) -> str:
    return parse_http_url(variable, raw) if raw.strip() else ""


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


_POINT = re.compile(r"[0-9]+\.[0-9a-fA-F]{64}")


def parse_start(variable: str, raw: str) -> str:
    """`origin`, `tip` or `SLOT.HASH`; the follower turns the last into a chain point."""
    value = raw.strip()
    if value in ("origin", "tip"):
        return value
    if _POINT.fullmatch(value):
        slot, block_hash = value.split(".")
        return f"{int(slot)}.{block_hash.lower()}"
    raise ConfigError(variable, "origin, tip or SLOT.HASH (a 64-hex-digit block hash)",
                      repr(raw))


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


def parse_addresses(variable: str, raw: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
    if not addresses:
        return ()
    from pycardano import Address  # heavy import: only when addresses are given

    for address in addresses:
        try:
            Address.from_primitive(address)
        except Exception:
            raise ConfigError(variable, "comma-separated bech32 Cardano addresses (addr1..., "
                                        "addr_test1...)", repr(address)) from None
    return addresses


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
    Spec("FLOWER_URL", "flower_url", parse_optional_http_url,
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
         "extra bech32 addresses to index"),
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
)


def read_environment(environ: Mapping[str, str] | None = None,
                     dotenv_path: Path | None = None) -> dict[str, str]:
    """The process environment over the `.env` file: real variables win."""
    path = dotenv_path if dotenv_path is not None else PROJECT_ROOT / ".env"
    merged: dict[str, str] = {}
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def settings_from_mapping(values: Mapping[str, str]) -> Settings:
    """Parse and cross-check every variable; raises `ConfigError` on the first bad one."""
    parsed: dict[str, object] = {}
    explicit = set()
    for spec in SPECS:
        raw = values.get(spec.variable)
        if raw is None or (raw.strip() == "" and spec.variable in _EMPTY_MEANS_DEFAULT):
            continue
        parsed[spec.attribute] = spec.parse(spec.variable, raw)
        explicit.add(spec.variable)
    settings = Settings(**parsed, explicit=frozenset(explicit))  # type: ignore[arg-type]
    _cross_check(settings)
    return settings


# An empty string for these is the same as unset (a blank line in .env).
_EMPTY_MEANS_DEFAULT = frozenset(
    s.variable for s in SPECS
    if s.variable not in ("CARDANO_NODE", "WATCH_ADDRESSES", "MASTER_KEY_FILE", "VENUE_MODULES",
                          "DEXHUNTER_PARTNER_ID", "CELERY_BROKER_URL")
)


def _cross_check(settings: Settings) -> None:
    if settings.mode == "live":
        if not settings.dexhunter_partner_id:
            raise ConfigError("DEXHUNTER_PARTNER_ID", "a DexHunter partner key in live mode", None)
        if settings.master_key_file is None:
            raise ConfigError("MASTER_KEY_FILE", "the path of the master key file in live mode",
                              None)
    if settings.master_key_file is not None and not settings.master_key_file.is_file():
        raise ConfigError("MASTER_KEY_FILE", "an existing readable file",
                          repr(str(settings.master_key_file)))
    for address in settings.watch_addresses:
        on_mainnet = address.startswith("addr1") or address.startswith("stake1")
        if on_mainnet != settings.cardano_network.is_mainnet:
            raise ConfigError("WATCH_ADDRESSES",
                              f"addresses of the {settings.cardano_network.name} network "
                              "(CARDANO_NETWORK)", repr(address))


def load_settings(environ: Mapping[str, str] | None = None,
                  dotenv_path: Path | None = None) -> Settings:
    return settings_from_mapping(read_environment(environ, dotenv_path))


def load_settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """For process entry points: a bad setting prints one line and exits with status 2."""
    try:
        return load_settings(environ)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
