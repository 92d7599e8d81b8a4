"""The test suite leaves nothing in a shared Redis: each test's namespace is emptied at
its teardown, and a run whose namespaces still hold keys at the end fails, naming them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest
import redis as redis_lib

from core.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

INNER_TESTS = '''
import redis

import conftest


def test_keys_of_its_namespace_go_at_teardown(namespace, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set(f"{namespace}:celery-task-meta-1", 1)
    client.set(f"_kombu.binding.{namespace}.chain", 1)  # the namespace inside the key
    client.close()


def test_a_key_left_behind(redis_url):
    # As if a process outlived its test: a key of one of this run's namespaces that no
    # teardown deleted.
    conftest._namespaces.add("{leaked}")
    client = redis.Redis.from_url(redis_url)
    client.set("{leaked}:redbeat:lock", 1)
    client.close()
'''


def test_a_run_that_leaves_keys_fails_and_names_them(redis_url, tmp_path):
    leaked = f"dhltest_{uuid.uuid4().hex[:12]}"
    shutil.copy(PROJECT_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS.replace("{leaked}", leaked))
    client = redis_lib.Redis.from_url(redis_url)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "TEST_REDIS_URL": redis_url,
                 "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(tmp_path)])})
        out = result.stdout + result.stderr
        assert result.returncode == 1, out
        assert "2 passed" in out, out  # the tests passed: the leftover alone fails the run
        assert "Redis keys left by this run" in out and f"{leaked}:redbeat:lock" in out, out
        assert out.count("dhltest_") == 1, out  # the namespace emptied at teardown is not named
        assert list(client.scan_iter(match=f"*{leaked}*")) == []  # and now it is gone too
    finally:
        client.delete(f"{leaked}:redbeat:lock")
        client.close()
