"""Auth routes and bearer-token handling (API.md §1.2, §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.testing import TEST_JWT_SECRET, make_test_settings


def test_register_login_and_me(client: TestClient) -> None:
    registered = client.post(
        "/auth/register",
        json={"username": "alice", "password": "s3cret-pass", "display_name": "Alice"},
    )
    assert registered.status_code == 200
    body = registered.json()
    assert body["token_type"] == "bearer" and len(body["user_id"]) == 32
    logged_in = client.post("/auth/login", json={"username": "ALICE", "password": "s3cret-pass"})
    assert logged_in.status_code == 200
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {logged_in.json()['token']}"})
    assert me.status_code == 200
    assert me.json()["display_name"] == "Alice" and me.json()["username"] == "alice"
    assert me.json()["token_expires_at"].endswith("Z")


def test_username_is_unique_case_insensitively(client: TestClient) -> None:
    assert (
        client.post("/auth/register", json={"username": "bob", "password": "password1"}).status_code
        == 200
    )
    again = client.post("/auth/register", json={"username": "BOB", "password": "password2"})
    assert again.status_code == 409 and again.json()["code"] == "username_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "x", "password": "password1"},
        {"username": "bad name", "password": "password1"},
        {"username": "carol", "password": "short"},
        {"username": "carol"},
    ],
)
def test_register_validation(client: TestClient, body: dict[str, str]) -> None:
    response = client.post("/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, make_user) -> None:
    make_user("dave")
    wrong = client.post("/auth/login", json={"username": "dave", "password": "nope-nope"})
    unknown = client.post("/auth/login", json={"username": "nobody", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == "invalid_credentials"


def test_login_is_rate_limited(client: TestClient, make_user) -> None:
    make_user("erin")
    for _ in range(10):
        client.post("/auth/login", json={"username": "erin", "password": "wrong-pass"})
    limited = client.post("/auth/login", json={"username": "erin", "password": "correct-horse-1"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0


def _token(claims: dict, secret: str = TEST_JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(user_id: str, *, expires_in: timedelta) -> dict:
    now = datetime.now(UTC)
    return {
        "sub": user_id,
        "username": "u",
        "iat": int(now.timestamp()),
        "exp": int((now + expires_in).timestamp()),
        "iss": "lycheemem",
    }


def test_bad_tokens_are_401_never_anonymous(client: TestClient, make_user) -> None:
    headers = make_user("frank")
    user_id = client.get("/auth/me", headers=headers).json()["user_id"]
    expired = _token(_claims(user_id, expires_in=timedelta(hours=-1)))
    wrong_secret = _token(_claims(user_id, expires_in=timedelta(hours=1)), "x" * 40)
    orphan = _token(_claims("0" * 32, expires_in=timedelta(hours=1)))
    tampered = headers["Authorization"].split()[1][:-4] + "AAAA"
    for bad in (expired, wrong_secret, orphan, tampered, "not-a-jwt"):
        response = client.get("/sessions", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
        assert response.json()["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
    malformed = client.get("/sessions", headers={"Authorization": "Basic abc"})
    assert malformed.status_code == 401


def test_me_requires_a_token(client: TestClient) -> None:
    response = client.get("/auth/me")
    assert response.status_code == 401 and response.json()["code"] == "auth_required"


def test_require_auth_refuses_anonymous(tmp_path) -> None:
    with TestClient(create_app(make_test_settings(tmp_path, require_auth=True))) as client:
        response = client.get("/sessions")
        assert response.status_code == 401 and response.json()["code"] == "auth_required"
        assert client.get("/health").status_code == 200


def test_registration_can_be_disabled(tmp_path) -> None:
    settings = make_test_settings(tmp_path, allow_registration=False)
    with TestClient(create_app(settings)) as client:
        response = client.post("/auth/register", json={"username": "gina", "password": "password1"})
        assert response.status_code == 403 and response.json()["code"] == "registration_disabled"


def test_generated_secret_is_persisted(tmp_path) -> None:
    settings = make_test_settings(tmp_path, jwt_secret="")
    with TestClient(create_app(settings)) as client:
        token = client.post("/auth/register", json={"username": "hank", "password": "password1"})
        header = {"Authorization": f"Bearer {token.json()['token']}"}
    secret_file = settings.data_dir / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    with TestClient(create_app(settings)) as client:
        assert client.get("/auth/me", headers=header).status_code == 200
