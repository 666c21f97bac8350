"""The official `openai` SDK against Threadgate: base_url at Threadgate's
/v1, a development token as the API key. Another user of the same tenant
sees none of it."""

import os

import openai
import pytest
from openai import AssistantEventHandler
from typing_extensions import override


def client_for(token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["THREADGATE_URL"] + "/v1", api_key=token, max_retries=0)


@pytest.fixture
def alice():
    return client_for(os.environ["ALICE_TOKEN"])


@pytest.fixture
def bob():
    return client_for(os.environ["BOB_TOKEN"])


def text_of(message) -> str:
    return "".join(part.text.value for part in message.content if part.type == "text")


def test_a_conversation_through_threadgate(alice, bob):
    assistants = alice.beta.assistants.list().data
    assert [a.id for a in assistants] == [os.environ["ASSISTANT_ID"]]
    assistant = alice.beta.assistants.retrieve(os.environ["ASSISTANT_ID"])

    thread = alice.beta.threads.create(metadata={"topic": "sdk"})
    assert thread.metadata == {"topic": "sdk"}
    alice.beta.threads.messages.create(thread.id, role="user", content="Hello through Threadgate")

    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20)
    assert run.status == "completed"

    class Collector(AssistantEventHandler):
        def __init__(self):
            super().__init__()
            self.deltas = []

        @override
        def on_text_delta(self, delta, snapshot):
            self.deltas.append(delta.value)

    alice.beta.threads.messages.create(thread.id, role="user", content="and stream this")
    collector = Collector()
    with alice.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, event_handler=collector) as stream:
        stream.until_done()
    assert "and stream this" in "".join(collector.deltas)

    messages = alice.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert "Hello through Threadgate" in text_of(messages[1])

    # The user's own threads: an extension the upstream lacks, same envelope.
    mine = alice.get("/threads", cast_to=object)
    assert [t["id"] for t in mine["data"]] == [thread.id]

    # Bob, of the same tenant, sees none of it.
    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.messages.list(thread.id)
    assert bob.get("/threads", cast_to=object)["data"] == []

    deleted = alice.beta.threads.delete(thread.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        alice.beta.threads.retrieve(thread.id)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_files_vector_stores_and_outputs_through_threadgate(alice, bob):
    uploaded = alice.files.create(file=("faq.md", b"Refunds take five days."), purpose="assistants")
    assert uploaded.purpose == "assistants"
    assert [f.id for f in alice.files.list()] == [uploaded.id]

    store = alice.vector_stores.create(name="faq", file_ids=[uploaded.id])
    assert store.file_counts.completed == 1
    assert [f.id for f in alice.vector_stores.files.list(vector_store_id=store.id)] == [uploaded.id]

    assistant_id = os.environ["ASSISTANT_ID"]
    thread = alice.beta.threads.create(
        messages=[{
            "role": "user",
            "content": "How long do refunds take? Chart it too #output-file",
            "attachments": [{"file_id": uploaded.id, "tools": [{"type": "file_search"}]}],
        }],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=20)
    assert run.status == "completed"
    reply = alice.beta.threads.messages.list(thread.id).data[0]
    image = next(part for part in reply.content if part.type == "image_file")
    output = alice.files.content(image.image_file.file_id).read()
    assert output.startswith(PNG_MAGIC)
    ids = {f.id for f in alice.files.list()}
    assert {uploaded.id, image.image_file.file_id} <= ids

    # Bob, of the same tenant, sees none of it.
    assert bob.files.list().data == []
    assert bob.vector_stores.list().data == []
    for attempt in (
        lambda: bob.files.retrieve(uploaded.id),
        lambda: bob.files.content(image.image_file.file_id).read(),
        lambda: bob.vector_stores.retrieve(store.id),
        lambda: bob.vector_stores.files.list(vector_store_id=store.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.create(messages=[{"role": "user", "content": "x", "attachments": [{"file_id": uploaded.id, "tools": [{"type": "code_interpreter"}]}]}])

    assert alice.vector_stores.delete(store.id).deleted
    assert alice.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(uploaded.id)


def test_an_idempotent_retry_through_the_sdk(alice, bob):
    key = {"Idempotency-Key": "sdk-retry-1"}
    thread = alice.beta.threads.create(metadata={"topic": "retry"}, extra_headers=key)
    retried = alice.beta.threads.with_raw_response.create(metadata={"topic": "retry"}, extra_headers=key)
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.parse().id == thread.id

    with pytest.raises(openai.BadRequestError):
        alice.beta.threads.create(metadata={"topic": "another"}, extra_headers=key)

    # Bob's request with the same key is his own, never a replay of Alice's.
    bobs = bob.beta.threads.create(metadata={"topic": "retry"}, extra_headers=key)
    assert bobs.id != thread.id
