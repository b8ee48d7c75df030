from __future__ import annotations

import pytest

from accounts.models import User
from tests.support.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def signup(api, **overrides):
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD, **overrides}
    return api.call("POST", "/api/auth/signup", body)


def test_signup_creates_the_user_and_logs_them_in(api):
    response = signup(api)
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "alice"
    assert body["total_exp"] == 0 and body["current_level"] == 1
    assert "password" not in body and "password_hash" not in body
    me = api.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    stored = User.objects.get(username="alice")
    assert stored.password.startswith("pbkdf2_") and PASSWORD not in stored.password


def test_duplicate_username_is_a_clear_400_and_creates_nothing(api):
    make_user("alice")
    response = signup(api, email="other@example.com")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "username_taken"
    assert User.objects.filter(username="alice").count() == 1


def test_duplicate_username_differs_only_in_case(api):
    make_user("Alice")
    assert signup(api).json()["error"]["code"] == "username_taken"


def test_duplicate_email_is_rejected(api):
    make_user("bob", email="alice@example.com")
    response = signup(api)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", ""),
        ("username", "x" * 51),
        ("username", "bad name!"),
        ("email", "nope"),
        ("password", "123"),
        ("password", "password"),
    ],
)
def test_bad_signup_input_gets_a_validation_error(api, field, value):
    response = signup(api, **{field: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["message"]
    assert not User.objects.exists()


def test_signup_with_malformed_json_is_a_400(api):
    token = api.csrf()
    response = api.generic(
        "POST",
        "/api/auth/signup",
        "{not json",
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_login_then_me_then_logout(api):
    user = make_user("carol")
    response = api.call("POST", "/api/auth/login", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 200 and response.json()["id"] == user.id
    assert api.get("/api/auth/me").json()["username"] == "carol"
    assert api.call("POST", "/api/auth/logout").status_code == 204
    me = api.get("/api/auth/me")
    assert me.status_code == 401
    assert me.json() == {"error": {"code": "not_authenticated", "message": "Log in first."}}


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(api):
    make_user("dave")
    response = api.call(
        "POST", "/api/auth/login", {"username": "dave", "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    unknown = api.call(
        "POST", "/api/auth/login", {"username": "nobody", "password": "wrong-password"}
    )
    assert unknown.json() == response.json()
    assert api.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize("path", ["/api/auth/signup", "/api/auth/login", "/api/auth/logout"])
def test_unsafe_requests_without_csrf_token_are_refused(api, path):
    make_user("erin")
    response = api.call(
        "POST",
        path,
        {"username": "erin", "password": PASSWORD, "email": "e2@example.com"},
        csrf=False,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_csrf_is_enforced_for_logged_in_users_too(api):
    user = make_user("frank")
    api.login_as(user)
    response = api.call("POST", "/api/auth/logout", csrf=False)
    assert response.status_code == 403
    assert api.get("/api/auth/me").status_code == 200


def test_openapi_schema_is_served(api):
    response = api.get("/api/schema", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert b"/api/auth/login" in response.content


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
