"""The API against its own OpenAPI document (schemathesis, issue 12): every operation
of /openapi.json called with generated requests, signed in as a user with positions —
no 5xx, every answer's status, content type and body as documented, and schema-invalid
requests refused. (Schema-valid requests the desk refuses — a leverage of 1, an unknown
token — are answered 422 with the reason: schemathesis's "positive data acceptance" is
left out.) Through the real
app over the test MongoDB and Redis."""
from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from decimal import Decimal
from typing import Any, Iterator

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, given, settings

from app import create_app
from core.api_keys import new_key
from core.units import ADA, Asset
from store import api_keys
from tasks.position_orders import OpenRequest, open_position
from tasks.positions import desk_for
from tests.positions.support import STRIKE, paper_desk, start_stubs

pytestmark = pytest.mark.integration

#: Examples per operation: enough to reach every field's checks, within the suite's budget.
EXAMPLES = 12


@pytest.fixture(scope="module")
def served_api(mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[dict[str, Any]]:
    """One app for every operation: a user with a paper position and a key."""
    with ExitStack() as stack:
        paper = stack.enter_context(paper_desk(mongo_url, redis_url,
                                               tmp_path_factory.mktemp("api"),
                                               start_stubs(stack)))
        settings = dataclasses.replace(paper.settings, api_rate_per_minute=100_000)
        open_position(desk_for(settings), OpenRequest(
            "long", Asset.from_unit(STRIKE), ADA, 100_000_000, Decimal("1.5"), user="alice"),
            lambda _pid: None)
        key_id, kept, key = new_key()
        api_keys.add(paper.desk.db, key_id, "alice", kept, 1)
        app = create_app(settings)
        stack.callback(app.extensions["dhl"].close)
        yield {"app": app, "key": key}


def test_every_operation_answers_as_documented(served_api: dict[str, Any]) -> None:
    api = schemathesis.openapi.from_wsgi("/openapi.json", served_api["app"])
    headers = {"Authorization": f"Bearer {served_api['key']}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            call()
        except BaseException as error:  # every operation's failures, not the first's only
            if isinstance(error, KeyboardInterrupt):
                raise
            failures[operation.label] = f"{type(error).__name__}: {error}"[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in failures.items())
