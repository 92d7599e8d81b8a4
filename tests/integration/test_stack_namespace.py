"""Two stacks never share a Redis namespace: the second is refused while the first runs,
and takes over the claim of one that is gone."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigConflict
from stack import lock
from stack.namespace import claim_key, claim_namespace

pytestmark = pytest.mark.integration


def test_a_running_stack_keeps_its_namespace(redis_url, redis_client, namespace,
                                             tmp_path: Path):
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    with lock.acquire(first_dir):  # the first stack runs
        first = claim_namespace(redis_url, namespace, first_dir, {"web": "http://h:1/"})
        with pytest.raises(ConfigConflict, match=rf"^REDIS_NAMESPACE: '{namespace}' is in use "
                                                 rf"by the stack of DATA_DIR {first_dir} "
                                                 r"\(pid \d+ on .*, web http://h:1/\)"):
            claim_namespace(redis_url, namespace, second_dir, {})
        assert json.loads(redis_client.get(claim_key(namespace)))["data_dir"] == str(first_dir)
    # The first stack is gone (its lock with it) but its claim is still there: taken over.
    second = claim_namespace(redis_url, namespace, second_dir, {})
    first.release()  # a late release must not delete the second stack's claim
    assert json.loads(redis_client.get(claim_key(namespace)))["data_dir"] == str(second_dir)
    assert redis_client.ttl(claim_key(namespace)) > 0
    second.release()
    assert not redis_client.exists(claim_key(namespace))


def test_a_key_that_is_no_stacks_claim_is_taken_over_not_a_crash(redis_url, redis_client,
                                                                  namespace, tmp_path: Path):
    """Whatever else sits under the claim key is taken over (by compare-and-set, so two
    stacks cannot both take it); the stack that took it is then guarded as usual."""
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    redis_client.set(claim_key(namespace), b"\xffnot json")
    with lock.acquire(first_dir):
        first = claim_namespace(redis_url, namespace, first_dir, {})
        with pytest.raises(ConfigConflict, match="is in use by the stack of DATA_DIR"):
            claim_namespace(redis_url, namespace, second_dir, {})
        first.release()
