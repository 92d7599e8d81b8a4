"""All MongoDB and Redis access lives here.

Rules (../shared/reference/mongo-options.md, "Rules for the project's storage code"):
string `_id`s; no Decimal128 (see `store.codec`); no positional or array-index updates,
no dotted queries into arrays of sub-documents, no `$push` of sub-documents (keyed
sub-documents instead); top-level projections only; no nested arrays; indexes are
declared in `store.indexes` and created at start, checked by key, never by name;
claims are `find_one_and_update` with a state filter. `tests/conformance` checks the
server does each operation used here correctly.
"""
