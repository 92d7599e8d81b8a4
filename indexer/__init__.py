"""The chain indexer: applies the block log to every watcher's state in MongoDB, in chain
order, exactly once, and undoes it exactly on a rollback."""
