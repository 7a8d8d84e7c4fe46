"""``/memory/skills``: list, filter, delete one, clear, and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from memory_support import HOSTILE_QUERIES, RELEASE_STEPS, remember, user_id_of

BACKUP_STEPS = (
    "How to back up the database:\n1. Stop the writer service\n2. Run pg_dump to a file\n"
    "3. Copy the file to S3"
)


def _skills(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> dict:
    response = client.get("/memory/skills", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def _skill_vectors(client: TestClient, user_id: str, ids: list[str]) -> dict:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    return client.portal.call(ctx.vectors.get_vectors, "skills", user_id, ids)  # type: ignore[union-attr]


def test_list_shape_and_text_filter(client: TestClient) -> None:
    remember(client, "s1", [RELEASE_STEPS])
    remember(client, "s2", [BACKUP_STEPS])
    body = _skills(client)
    assert body["total"] == 2
    skill = body["skills"][0]
    assert set(skill) == {
        "id",
        "skill_id",
        "intent",
        "doc_markdown",
        "conditions",
        "metadata",
        "success_count",
        "usage_count",
        "last_used",
        "created_at",
        "updated_at",
    }
    assert skill["id"] == skill["skill_id"]
    found = _skills(client, q="pg_dump")
    assert found["total"] == 1 and "back up" in found["skills"][0]["intent"]
    page = _skills(client, limit=1, offset=1)
    assert page["total"] == 2 and len(page["skills"]) == 1


def test_delete_one_skill_with_its_vector(client: TestClient) -> None:
    remember(client, "s1", [RELEASE_STEPS])
    remember(client, "s2", [BACKUP_STEPS])
    skills = _skills(client)["skills"]
    victim, other = skills[0]["skill_id"], skills[1]["skill_id"]
    assert _skill_vectors(client, "", [victim])
    response = client.delete(f"/memory/skills/{victim}")
    assert response.status_code == 200 and victim in response.json()["message"]
    assert [s["skill_id"] for s in _skills(client)["skills"]] == [other]
    assert _skill_vectors(client, "", [victim]) == {}
    again = client.delete(f"/memory/skills/{victim}")
    assert again.status_code == 404 and again.json()["code"] == "skill_not_found"


def test_clear_is_routed_before_the_skill_id_route(client: TestClient) -> None:
    remember(client, "s1", [RELEASE_STEPS])
    remember(client, "s2", [BACKUP_STEPS])
    ids = [s["skill_id"] for s in _skills(client)["skills"]]
    response = client.delete("/memory/skills/clear")
    assert response.status_code == 200
    assert response.json()["deleted"] == 2
    assert _skills(client)["total"] == 0
    assert _skill_vectors(client, "", ids) == {}
    assert client.delete("/memory/skills/clear").json()["deleted"] == 0


def test_other_tenants_cannot_see_or_delete_skills(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", [RELEASE_STEPS], headers=alice)
    remember(client, "s1", [BACKUP_STEPS])
    mine = _skills(client, alice)["skills"]
    assert len(mine) == 1
    skill_id = mine[0]["skill_id"]
    for headers in (bob, {}):
        assert skill_id not in {s["skill_id"] for s in _skills(client, headers)["skills"]}
        response = client.delete(f"/memory/skills/{skill_id}", headers=headers)
        assert response.status_code == 404 and response.json()["code"] == "skill_not_found"
    assert _skills(client, bob)["total"] == 0
    assert client.delete("/memory/skills/clear", headers=bob).json()["deleted"] == 0
    assert client.delete("/memory/skills/clear").json()["deleted"] == 1
    assert _skills(client, alice)["total"] == 1
    assert _skill_vectors(client, user_id_of(client, alice), [skill_id])


@pytest.mark.parametrize("q", HOSTILE_QUERIES)
def test_hostile_skill_filters_never_fail(client: TestClient, q: str) -> None:
    remember(client, "s1", [RELEASE_STEPS])
    body = _skills(client, q=q)
    assert body["total"] == len(body["skills"])


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}])
def test_invalid_paging_is_rejected(client: TestClient, params: dict) -> None:
    assert client.get("/memory/skills", params=params).status_code == 422
