"""Which storage failures are outages (retry later) rather than bugs (fail now).

The classification is by type, never by message: a MongoDB or Redis that cannot be
reached, times out or is electing a primary is transient; a bad query or document is not.
"""
from __future__ import annotations

import redis
from pymongo import errors as mongo_errors

from core.errors import TransientError

#: MongoDB failures that mean "the server is not there right now".
MONGO_OUTAGES: tuple[type[BaseException], ...] = (
    mongo_errors.ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeout...
    mongo_errors.ExecutionTimeout,
    mongo_errors.WTimeoutError,
)
#: Redis failures of the same kind.
REDIS_OUTAGES: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError
    redis.exceptions.TimeoutError,
)
STORE_OUTAGES = MONGO_OUTAGES + REDIS_OUTAGES


#: What a task retries rather than blames on the block: any failure of the stores (an
#: unexpected MongoDB error is the pipeline's problem, not the block's) and anything the
#: project marks as transient (a venue API's timeout or 5xx).
RETRYABLE: tuple[type[BaseException], ...] = (
    TransientError, mongo_errors.PyMongoError, redis.exceptions.RedisError)


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, RETRYABLE)


def is_store_outage(error: BaseException) -> bool:
    return isinstance(error, STORE_OUTAGES)


def is_transient(error: BaseException) -> bool:
    """A storage outage, or an error the project itself marks as worth retrying (a venue
    client's timeout or 5xx raises TransientError)."""
    return isinstance(error, (TransientError, *STORE_OUTAGES))
