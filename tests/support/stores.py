"""A test's own MongoDB database with the project's indexes, and the settings it was
opened with: dropped afterwards, and the store's pooled clients closed."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from core.settings import Settings, settings_from_mapping
from store.indexes import ensure_indexes
from store.mongo import Database, close_all, connect


@contextmanager
def indexed_database(env: Mapping[str, str], name: str) -> Iterator[tuple[Settings, Database]]:
    settings = settings_from_mapping(env)
    client = connect(settings.mongo_url)
    db = client[name]
    ensure_indexes(db)
    try:
        yield settings, db
    finally:
        client.drop_database(db.name)
        client.close()
        close_all()
