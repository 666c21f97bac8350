"""A tenant admin's flow over the administration API, driven by the official
`openai` SDK's generic helpers (`client.get/post/delete`, which keep the
SDK's authentication, errors and retries), with a member's refusals and
sharing between two users."""

import os
import time

import openai
import pytest

POLLS = 500  # 10 s at 20 ms


def client_for(token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["THREADGATE_URL"] + "/v1", api_key=token, max_retries=0)


@pytest.fixture
def admin():
    return client_for(os.environ["ADMIN_TOKEN"])


@pytest.fixture
def alice():
    return client_for(os.environ["ALICE_TOKEN"])


@pytest.fixture
def bob():
    return client_for(os.environ["BOB_TOKEN"])


def user_id(admin: openai.OpenAI, subject: str) -> str:
    users = admin.get("/organization/users", cast_to=object, options={"params": {"limit": 100}})
    return next(user["id"] for user in users["data"] if user["subject"] == subject)


def test_an_admin_runs_the_tenant_and_a_member_cannot(admin, alice, bob):
    policy = admin.get("/organization/policy", cast_to=object)
    assert policy["object"] == "organization.policy"
    changed = admin.post("/organization/policy", body={"retention_days": 30}, cast_to=object)
    assert changed["retention_days"] == 30
    with pytest.raises(openai.NotFoundError):
        alice.get("/organization/policy", cast_to=object)
    with pytest.raises(openai.NotFoundError):
        alice.post("/organization/policy", body={"retention_days": 1}, cast_to=object)
    with pytest.raises(openai.BadRequestError) as refused:
        admin.post("/organization/policy", body={"retention_days": -1}, cast_to=object)
    assert refused.value.param == "retention_days"

    # A backend key: shown once, usable at once, refused once revoked.
    key = admin.post("/organization/api_keys", body={"name": "billing backend"}, cast_to=object)
    backend = client_for(key["value"])
    assert backend.models.list().data
    listed = admin.get("/organization/api_keys", cast_to=object)
    assert all("value" not in item for item in listed["data"])
    admin.delete(f"/organization/api_keys/{key['id']}", cast_to=object)
    with pytest.raises(openai.AuthenticationError):
        backend.models.list()

    issuers = admin.get("/organization/issuers", cast_to=object)
    assert len(issuers["data"]) >= 1
    with pytest.raises(openai.BadRequestError) as refused:
        admin.post("/organization/issuers", body={"issuer": "https://idp.example.com", "audiences": ["x"], "algorithms": ["HS256"]}, cast_to=object)
    assert refused.value.param == "algorithms"

    # Sharing, between the two members.
    conversation = alice.conversations.create(items=[{"type": "message", "role": "user", "content": "for bob"}])
    with pytest.raises(openai.NotFoundError):
        bob.conversations.items.list(conversation.id)
    share = alice.post(f"/conversations/{conversation.id}/shares", body={"user": "bob", "permission": "read"}, cast_to=object)
    assert share["permission"] == "read"
    assert bob.conversations.items.list(conversation.id).data
    alice.delete(f"/conversations/{conversation.id}/shares/bob", cast_to=object)
    with pytest.raises(openai.NotFoundError):
        bob.conversations.items.list(conversation.id)

    shares = admin.get("/organization/audit_logs", cast_to=object, options={"params": {"action": "share_grant"}})
    assert len(shares["data"]) == 1
    assert admin.get("/organization/audit_logs/verify", cast_to=object)["intact"] is True
    assert admin.get("/organization/usage", cast_to=object)["object"] == "list"

    # Erasing bob: answered at once, finished in the background.
    bob.conversations.create()
    erasure = admin.delete(f"/organization/users/{user_id(admin, 'bob')}", cast_to=object)
    assert erasure["object"] == "organization.erasure"
    for _ in range(POLLS):
        erasure = admin.get(f"/organization/erasures/{erasure['id']}", cast_to=object)
        if erasure["status"] == "completed":
            break
        time.sleep(0.02)
    assert erasure["status"] == "completed", erasure
    assert erasure["deleted"] == {"conversation": 1}
    assert erasure["proof"]["still_present"] == 0
