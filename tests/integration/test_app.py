"""The web app's surface: JSON everywhere, the OpenAPI document, the offline docs page."""
from __future__ import annotations

import pytest

from app import create_app

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
