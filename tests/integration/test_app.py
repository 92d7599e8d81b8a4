"""The web app's surface: JSON everywhere, the OpenAPI document, the offline docs page."""
from __future__ import annotations

import pytest

from app import create_app
from core.settings import settings_from_mapping

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings, redis_client):
    app = create_app(settings)
    yield app.test_client()
    app.extensions["dhl"].close()


def test_health_is_liveness_only(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "mode": "paper", "version": "0.1.0"}


def test_errors_are_json(client):
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and missing.is_json
    assert missing.get_json()["status"] == "Not Found"
    wrong = client.post("/health")
    assert wrong.status_code == 405 and wrong.is_json


def test_openapi_document_and_offline_docs(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/health", "/ready"} <= set(spec["paths"])
    ready = spec["paths"]["/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)
    page = client.get("/docs")
    assert page.status_code == 200 and b"/docs/assets/swagger-ui-bundle.js" in page.data
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/../../app/__init__.py").status_code == 404


def test_metrics_speak_prometheus(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "dhl_store_up 1.0" in response.get_data(as_text=True)


def test_root_lists_the_links_as_json_or_leads_a_browser_to_the_dashboard(client):
    expected = {"health": "/health", "ready": "/ready", "metrics": "/metrics",
                "dashboard": "/dashboard", "docs": "/docs", "openapi": "/openapi.json"}
    plain = client.get("/")  # no Accept header: JSON
    assert plain.status_code == 200 and plain.is_json and "Accept" in plain.vary
    assert plain.get_json() == {"service": "DH-Leverage", "mode": "paper", "links": expected}
    for path in expected.values():
        assert client.get(path).status_code in (200, 503), path  # /ready: 503 without workers

    browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302 and browser.location == "/dashboard"
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<script src="/dashboard/dashboard.js">' in page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]  # no inline code
    for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "css")):
        asset = client.get(f"/dashboard/{name}")
        assert asset.status_code == 200 and kind in asset.mimetype, name
    assert client.get("/dashboard/../app/__init__.py").status_code == 404
    assert client.get("/dashboard/index.py").status_code == 404


def test_root_links_flower_when_configured(test_env, redis_client):
    app = create_app(settings_from_mapping({**test_env, "FLOWER_URL": "http://127.0.0.1:5599/"}))
    try:
        client = app.test_client()
        assert client.get("/").get_json()["links"]["flower"] == "http://127.0.0.1:5599/"
    finally:
        app.extensions["dhl"].close()
