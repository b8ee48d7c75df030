"""The OpenAPI schema (``/api/schema``) and the offline docs page (``/api/docs/``):
the schema generates without a warning, describes what the endpoints really send and
accept (SPEC §5), and the docs page loads nothing from outside the server."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats

from streams.models import LiveStream
from tests.donations.helpers import live_stream
from tests.streams.test_apis import PUBLIC_FIELDS as PUBLIC_STREAM_FIELDS
from tests.support.browser import WAIT_MS, chromium

ERROR_REF = "#/components/schemas/Error"
UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from django.test import Client

    response = Client().get("/api/schema?format=json")
    assert response.status_code == 200, response.content
    return response.json()


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def operation(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return schema["paths"][path][method]


def request_body(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return operation(schema, method, path)["requestBody"]["content"]["application/json"]["schema"]


def response_body(schema: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    response = operation(schema, method, path)["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def properties(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    return set(resolve(schema, node)["properties"])


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            yield path, method, op


def assert_matches(schema: dict[str, Any], node: dict[str, Any], value: Any, where: str) -> None:
    """``value`` (a real response body) has exactly the documented shape: every
    required key, no undocumented key, null only where nullable, all the way down."""
    node = resolve(schema, node)
    if value is None:
        assert node.get("nullable"), f"{where}: null but not nullable"
        return
    if "allOf" in node:  # a nested $ref with a description or nullable beside it
        [inner] = node["allOf"]
        assert_matches(schema, inner, value, where)
        return
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        documented, required = set(node["properties"]), set(node.get("required", []))
        assert set(value) <= documented, f"{where}: undocumented {set(value) - documented}"
        assert required <= set(value), f"{where}: missing {required - set(value)}"
        for key, item in value.items():
            assert_matches(schema, node["properties"][key], item, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), f"{where}: {value!r} is not a list"
        for i, item in enumerate(value):
            assert_matches(schema, node["items"], item, f"{where}[{i}]")
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r}"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{where}: {value!r}"
    elif kind == "string" or "enum" in node:
        assert isinstance(value, str), f"{where}: {value!r}"
        if "enum" in node:
            assert value in node["enum"], f"{where}: {value!r} not in {node['enum']}"


# --------------------------------------------------------------------------- generation


def test_the_schema_generates_and_validates_without_a_single_warning(tmp_path):
    reset_generator_stats()
    target = tmp_path / "schema.yaml"
    # Raises SchemaGenerationError on any warning, SchemaValidationError if invalid.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi: 3.")


def test_operation_ids_are_unique(schema):
    ids = Counter(op["operationId"] for _, _, op in operations(schema))
    assert [i for i, n in ids.items() if n > 1] == []


# --------------------------------------------------------------------------- request shapes


def test_signup_and_login_have_their_own_request_components(schema):
    signup = request_body(schema, "post", "/api/auth/signup")
    login = request_body(schema, "post", "/api/auth/login")
    assert signup["$ref"] != login["$ref"]
    assert properties(schema, signup) == {"username", "email", "password"}
    assert set(resolve(schema, signup)["required"]) == {"username", "email", "password"}
    assert properties(schema, login) == {"username", "password"}


def test_every_request_component_is_distinct(schema):
    refs = [
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for _, _, op in operations(schema)
        if "requestBody" in op
    ]
    assert len(refs) == len(set(refs)), refs


def test_stream_create_takes_a_title_and_answers_the_stream(schema):
    body = request_body(schema, "post", "/api/streams")
    assert properties(schema, body) == {"title", "description", "scheduled_start"}
    assert resolve(schema, body)["required"] == ["title"]
    created = response_body(schema, "post", "/api/streams", 201)
    assert properties(schema, created) >= PUBLIC_STREAM_FIELDS
    page = resolve(schema, response_body(schema, "get", "/api/streams", 200))
    public = page["properties"]["results"]["items"]
    assert properties(schema, public) == PUBLIC_STREAM_FIELDS
    detail = resolve(schema, response_body(schema, "get", "/api/streams/{stream_id}", 200))
    assert set(detail["required"]) == PUBLIC_STREAM_FIELDS  # the owner gets more
    streamer = resolve(schema, public)["properties"]["streamer"]
    assert properties(schema, streamer) == {"id", "username", "display_name", "current_level"}
    status = resolve(schema, resolve(schema, public)["properties"]["status"])
    assert set(status["enum"]) == set(LiveStream.Status.values)


def test_donation_create_answers_the_payment_intent_fields(schema):
    body = request_body(schema, "post", "/api/streams/{stream_id}/donations")
    assert properties(schema, body) == {
        "amount",
        "currency",
        "message",
        "display_name",
        "is_anonymous",
    }
    assert resolve(schema, body)["required"] == ["amount"]
    created = response_body(schema, "post", "/api/streams/{stream_id}/donations", 201)
    assert properties(schema, created) == {
        "id",
        "status",
        "amount",
        "currency",
        "client_secret",
        "publishable_key",
    }


def test_paged_reads_declare_their_query_parameters(schema):
    def query(path: str) -> set[str]:
        params = operation(schema, "get", path).get("parameters", [])
        return {p["name"] for p in params if p["in"] == "query"}

    assert {"status", "streamer", "page", "page_size"} <= query("/api/streams")
    assert {"before", "limit"} <= query("/api/streams/{stream_id}/chat/messages")
    assert {"before", "limit"} <= query("/api/me/exp")
    [status] = [
        p for p in operation(schema, "get", "/api/streams")["parameters"] if p["name"] == "status"
    ]
    assert set(status["schema"]["enum"]) == set(LiveStream.Status.values)


def test_no_response_is_left_untyped(schema):
    for path, method, op in operations(schema):
        for status, response in op["responses"].items():
            if status == "204":
                assert "content" not in response
                continue
            body = response["content"]["application/json"]["schema"]
            assert "$ref" in body, f"{method} {path} {status}: {body}"


# --------------------------------------------------------------------------- errors, security


def test_error_responses_use_the_shared_error_component(schema):
    error = schema["components"]["schemas"]["Error"]
    detail = resolve(schema, error["properties"]["error"])
    assert {"code", "message"} <= set(detail["required"])
    seen: set[str] = set()
    for path, method, op in operations(schema):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                seen.add(status)
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": ERROR_REF}, f"{method} {path} {status}"
    assert {"400", "401", "403", "404", "409", "429"} <= seen
    login = operation(schema, "post", "/api/auth/login")
    assert "Retry-After" in login["responses"]["429"]["headers"]
    start = operation(schema, "post", "/api/streams/{stream_id}/start")
    assert {"401", "403", "404", "409"} <= set(start["responses"])


def test_security_describes_the_session_cookie_and_the_csrf_header(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["cookieAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": schemes["cookieAuth"]["description"],
    }
    assert (schemes["csrfToken"]["in"], schemes["csrfToken"]["name"]) == (
        "header",
        "X-CSRFToken",
    )
    for path, method, op in operations(schema):
        for alternative in op["security"]:
            if method in UNSAFE:  # CSRF is enforced for guests too (login CSRF)
                assert "csrfToken" in alternative, f"{method} {path}"
            else:
                assert "csrfToken" not in alternative, f"{method} {path}"
    # Reads anyone may make: the cookie is optional. Login required: it is not.
    assert {} in operation(schema, "get", "/api/streams")["security"]
    assert operation(schema, "get", "/api/auth/me")["security"] == [{"cookieAuth": []}]
    assert operation(schema, "post", "/api/streams")["security"] == [
        {"cookieAuth": [], "csrfToken": []}
    ]
    assert operation(schema, "post", "/api/auth/login")["security"] == [{"csrfToken": []}]
    donate = operation(schema, "post", "/api/streams/{stream_id}/donations")
    assert {"csrfToken": []} in donate["security"]  # guests may donate


# --------------------------------------------------------------------------- real responses


@pytest.mark.django_db
def test_real_responses_have_the_documented_shapes(schema, api, stripe_server):
    def check(method: str, path: str, status: int, response, template: str | None = None):
        assert response.status_code == status, response.content
        node = response_body(schema, method, template or path, status)
        assert_matches(schema, node, response.json(), f"{method} {template or path}")

    signup = {"username": "schema1", "email": "schema1@example.com", "password": "x-Pass-91w!"}
    check("post", "/api/auth/signup", 201, api.call("POST", "/api/auth/signup", signup))
    check("get", "/api/auth/me", 200, api.call("GET", "/api/auth/me"))
    created = api.call("POST", "/api/streams", {"title": "Schema stream"})
    check("post", "/api/streams", 201, created)
    sid = created.json()["id"]
    by_id = "/api/streams/{stream_id}"
    check("get", "/api/streams", 200, api.call("GET", "/api/streams"))
    check("get", by_id, 200, api.call("GET", f"/api/streams/{sid}"))  # the owner's view
    check("get", f"{by_id}/key", 200, api.call("GET", f"/api/streams/{sid}/key"))
    check("post", f"{by_id}/start", 200, api.call("POST", f"/api/streams/{sid}/start"))
    check("get", f"{by_id}/stats", 200, api.call("GET", f"/api/streams/{sid}/stats"))
    check(
        "get",
        f"{by_id}/chat/messages",
        200,
        api.call("GET", f"/api/streams/{sid}/chat/messages?limit=5"),
    )
    check("get", "/api/me/exp", 200, api.call("GET", "/api/me/exp"))
    check("get", "/api/me/overlay", 200, api.call("GET", "/api/me/overlay"))
    check(
        "post",
        "/api/auth/login",
        401,
        api.call("POST", "/api/auth/login", {"username": "schema1", "password": "wrong"}),
    )

    api.call("POST", "/api/auth/logout")
    check("post", "/api/streams", 401, api.call("POST", "/api/streams", {"title": "Guest"}))
    stream = live_stream()
    check("get", by_id, 200, api.call("GET", f"/api/streams/{stream.id}"))  # the public view
    donation = api.call("POST", f"/api/streams/{stream.id}/donations", {"amount": "500"})
    check("post", f"{by_id}/donations", 201, donation)
    missing = api.call("POST", "/api/streams/987654/donations", {"amount": "500"})
    check("post", f"{by_id}/donations", 404, missing)


# --------------------------------------------------------------------------- docs page


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in html
    assert "cdn." not in html and "https://" not in html
    assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io
    assert "/api/schema" in html


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_docs_page_renders_the_operations_in_chromium_without_internet(asgi_server):
    local_host = urlsplit(asgi_server.http_url).hostname
    outside: list[str] = []
    failed: list[str] = []

    def only_local(route):
        if urlsplit(route.request.url).hostname == local_host:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def record_failure(response):
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    with chromium() as browser:
        page = browser.new_page()
        page.route("**/*", only_local)
        page.on("response", record_failure)
        page.goto(f"{asgi_server.http_url}/api/docs/")
        login = page.locator(".opblock-summary-path[data-path='/api/auth/login']")
        login.wait_for(state="visible", timeout=WAIT_MS)
        assert login.inner_text().replace("\u200b", "") == "/api/auth/login"
        assert page.locator(".opblock-summary-path[data-path='/api/streams']").count() == 2
        assert page.locator(".opblock-tag-section").count() >= 3
    assert failed == []
    assert outside == []
