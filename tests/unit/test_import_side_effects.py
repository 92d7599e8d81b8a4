"""Importing the project's packages reads no settings and configures nothing: the web app,
the worker and the tests build everything from explicit settings."""
from __future__ import annotations

import subprocess
import sys
import uuid

from core.settings import PROJECT_ROOT

#: An environment every settings load would refuse (exit 2 with a config error).
BROKEN_ENV = {"PATH": "/usr/bin:/bin", "MONGO_URL": "not-a-url", "CARDANO_NETWORK": "nowhere"}


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=BROKEN_ENV, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_importing_tasks_reads_no_settings():
    result = run("import tasks, tasks.chain, tasks.system, tasks.celery_app, app, indexer.sink\n"
                 "from celery import current_app\n"
                 "assert not hasattr(current_app.conf, 'dhl_settings')\n"
                 "print('imported')")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "imported"


def test_celery_dash_a_tasks_still_reads_the_environment():
    result = run("import tasks\ntasks.app")
    assert result.returncode == 2
    assert result.stdout.strip().startswith("config error: ") or \
        result.stderr.strip().startswith("config error: ")


def test_apps_build_from_explicit_settings_in_any_environment(mongo_url: str):
    # The test MongoDB (the web app creates its indexes at start: with none answering it
    # would wait out the server selection, seconds, to no purpose here).
    from store.mongo import connect

    name = f"explicit_{uuid.uuid4().hex[:8]}"
    result = run("from core.settings import settings_from_mapping\n"
                 "from tasks.celery_app import make_celery, settings_of\n"
                 "from app import create_app\n"
                 f"s = settings_from_mapping({{'MONGO_DB': {name!r}, 'MONGO_URL': {mongo_url!r}}})\n"
                 f"assert settings_of(make_celery(s)).mongo_db == {name!r}\n"
                 "web = create_app(s)\n"
                 "print(web.extensions['dhl'].settings.mongo_db)")
    client = connect(mongo_url)
    client.drop_database(name)
    client.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == name


def test_the_follower_learns_the_watchers_without_celery():
    result = run("import sys\n"
                 "from core.settings import settings_from_mapping\n"
                 "from indexer.watchers import watcher_names\n"
                 "names = watcher_names(settings_from_mapping({'VENUE_MODULES': 'protocols.demo'}))\n"
                 "assert 'celery' not in sys.modules, 'celery imported'\n"
                 "print(','.join(names))")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "demo-policy,demo-script,liqwid,own-txs,wallets"
