"""The official `openai` SDK's Responses and Conversations clients against
Threadgate: base_url at Threadgate's /v1, a development token as the key.
Another user of the same tenant reaches none of it."""

import os
import time

import httpx
import openai
import pytest

POLLS = 500  # 10 s at 20 ms


def client_for(token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["THREADGATE_URL"] + "/v1", api_key=token, max_retries=0)


@pytest.fixture
def alice():
    return client_for(os.environ["ALICE_TOKEN"])


@pytest.fixture
def bob():
    return client_for(os.environ["BOB_TOKEN"])


def listed(path: str, token: str) -> list[str]:
    """Threadgate's own lists (the SDK has no method for them)."""
    answer = httpx.get(
        os.environ["THREADGATE_URL"] + path, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["data"]]


def test_responses_chain_stream_and_call_functions(alice, bob):
    first = alice.responses.create(model="gpt-4o", input="Hello through Threadgate")
    assert first.status == "completed"
    assert "Hello through Threadgate" in first.output_text
    second = alice.responses.create(model="gpt-4o", input="#recall", previous_response_id=first.id)
    assert "Hello through Threadgate" in second.output_text

    with alice.responses.stream(model="gpt-4o", input="stream this please") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        streamed = stream.get_final_response()
    assert "".join(deltas) == streamed.output_text == "You said: stream this please"
    # The streamed response is the caller's as soon as its id is seen.
    assert alice.responses.retrieve(streamed.id).status == "completed"

    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    asked = alice.responses.create(model="gpt-4o", input="call get_weather for Paris", tools=tools)
    [call] = asked.output
    assert call.type == "function_call" and call.name == "get_weather"
    answered = alice.responses.create(
        model="gpt-4o",
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=tools,
    )
    assert "sunny" in answered.output_text

    items = alice.responses.input_items.list(first.id)
    assert [item.type for item in items.data] == ["message"]

    own = listed("/v1/responses", os.environ["ALICE_TOKEN"])
    assert {first.id, second.id, streamed.id, asked.id, answered.id} <= set(own)
    assert listed("/v1/responses", os.environ["BOB_TOKEN"]) == []

    # Bob reaches none of it, as if it never existed.
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="gpt-4o", input="#recall", previous_response_id=first.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(first.id)

    alice.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        alice.responses.retrieve(first.id)


def test_background_responses_are_retrieved_and_cancelled_by_their_owner(alice, bob):
    background = alice.responses.create(model="gpt-4o", input="#slow take your time", background=True)
    assert background.status in ("queued", "in_progress")
    with pytest.raises(openai.NotFoundError):
        bob.responses.cancel(background.id)
    cancelled = alice.responses.cancel(background.id)
    assert cancelled.status == "cancelled"

    quick = alice.responses.create(model="gpt-4o", input="in the background", background=True)
    for _ in range(POLLS):
        quick = alice.responses.retrieve(quick.id)
        if quick.status not in ("queued", "in_progress"):
            break
        time.sleep(0.02)
    assert quick.status == "completed" and "in the background" in quick.output_text


def test_unstored_responses_leave_nothing_to_retrieve(alice):
    unstored = alice.responses.create(model="gpt-4o", input="forget me", store=False)
    assert "forget me" in unstored.output_text
    with pytest.raises(openai.NotFoundError):
        alice.responses.retrieve(unstored.id)
    assert unstored.id not in listed("/v1/responses", os.environ["ALICE_TOKEN"])


def test_a_conversation_through_threadgate(alice, bob):
    conversation = alice.conversations.create(
        metadata={"topic": "sdk"}, items=[{"role": "user", "content": "My name is Ada."}]
    )
    assert conversation.metadata == {"topic": "sdk"}
    reply = alice.responses.create(model="gpt-4o", input="#recall", conversation=conversation.id)
    assert "My name is Ada." in reply.output_text
    added = alice.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": "One more thing."}]
    )
    items = alice.conversations.items.list(conversation.id, order="asc")
    assert [item.type for item in items.data] == ["message"] * 4
    assert alice.conversations.items.retrieve(added.data[0].id, conversation_id=conversation.id).id == added.data[0].id
    alice.conversations.items.delete(added.data[0].id, conversation_id=conversation.id)
    assert len(alice.conversations.items.list(conversation.id).data) == 3
    updated = alice.conversations.update(conversation.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"}

    assert conversation.id in listed("/v1/conversations", os.environ["ALICE_TOKEN"])
    assert listed("/v1/conversations", os.environ["BOB_TOKEN"]) == []
    with pytest.raises(openai.NotFoundError):
        bob.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        bob.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="gpt-4o", input="#recall", conversation=conversation.id)

    deleted = alice.conversations.delete(conversation.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        alice.conversations.retrieve(conversation.id)


def test_openai_clients_pointed_at_azures_v1_path_work(bob):
    """`OpenAI(base_url="<endpoint>/openai/v1/")`, as Azure documents its v1
    API, with the credential as the key: the same API, the same owner."""
    azure_v1 = openai.OpenAI(
        base_url=os.environ["THREADGATE_URL"] + "/openai/v1/", api_key=os.environ["ALICE_TOKEN"], max_retries=0
    )
    response = azure_v1.responses.create(model="gpt-4o", input="Hello from Azure's v1 path")
    assert "Hello from Azure's v1 path" in response.output_text
    same = client_for(os.environ["ALICE_TOKEN"]).responses.retrieve(response.id)
    assert same.id == response.id
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(response.id)


def test_code_interpreter_writes_a_file_its_owner_downloads(alice, bob):
    uploaded = alice.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="user_data")
    tools = [{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [uploaded.id]}}]
    response = alice.responses.create(model="gpt-4o", input="plot it #output-file", tools=tools)
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    message = next(item for item in response.output if item.type == "message")
    [citation] = message.content[0].annotations
    assert citation.type == "container_file_citation" and citation.container_id == call.container_id

    # The container the response made is alice's: listed, downloadable, reusable.
    assert call.container_id in listed("/v1/containers", os.environ["ALICE_TOKEN"])
    chart = alice.containers.files.content.retrieve(citation.file_id, container_id=call.container_id)
    assert chart.read().startswith(b"\x89PNG")
    files = alice.containers.files.list(call.container_id)
    assert {file.source for file in files.data} == {"user", "assistant"}
    again = alice.responses.create(
        model="gpt-4o", input="again #output-file",
        tools=[{"type": "code_interpreter", "container": call.container_id}],
    )
    assert any(item.type == "code_interpreter_call" and item.container_id == call.container_id for item in again.output)

    # Bob reaches none of it.
    assert listed("/v1/containers", os.environ["BOB_TOKEN"]) == []
    with pytest.raises(openai.NotFoundError):
        bob.containers.retrieve(call.container_id)
    with pytest.raises(openai.NotFoundError):
        bob.containers.files.content.retrieve(citation.file_id, container_id=call.container_id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(
            model="gpt-4o", input="#output-file",
            tools=[{"type": "code_interpreter", "container": call.container_id}],
        )

    # file_search over alice's own vector store.
    store = alice.vector_stores.create(name="kb", file_ids=[uploaded.id])
    searched = alice.responses.create(
        model="gpt-4o", input="what is in data.csv?",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
    )
    assert searched.status == "completed"
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(
            model="gpt-4o", input="x", tools=[{"type": "file_search", "vector_store_ids": [store.id]}]
        )

    alice.containers.delete(call.container_id)
    with pytest.raises(openai.NotFoundError):
        alice.containers.retrieve(call.container_id)


def test_a_background_stream_is_resumed_where_it_was_left(alice, bob):
    stream = alice.responses.create(
        model="gpt-4o", input="resume this stream after a few of its many words",
        background=True, stream=True,
    )
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 3:
            break
    stream.close()
    response_id = seen[0].response.id
    last = seen[-1].sequence_number

    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(response_id, stream=True, starting_after=last)
    resumed = list(alice.responses.retrieve(response_id, stream=True, starting_after=last))
    assert resumed and all(event.sequence_number > last for event in resumed)
    assert [event.sequence_number for event in resumed] == list(range(last + 1, last + 1 + len(resumed)))
    assert resumed[-1].type == "response.completed"
    text = "".join(event.delta for event in resumed if event.type == "response.output_text.delta")
    assert text.endswith("many words")


def test_items_are_referenced_only_from_the_conversation_they_are_in(alice, bob):
    conversation = alice.conversations.create(items=[{"role": "user", "content": "The code is 4711."}])
    [item] = alice.conversations.items.list(conversation.id).data
    reply = alice.responses.create(
        model="gpt-4o", conversation=conversation.id,
        input=[{"type": "item_reference", "id": item.id}, {"role": "user", "content": "#recall"}],
    )
    assert "4711" in reply.output_text

    # Bob names alice's item from his own conversation, or from none.
    bobs = bob.conversations.create()
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="gpt-4o", conversation=bobs.id,
                             input=[{"type": "item_reference", "id": item.id}])
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="gpt-4o", input=[{"type": "item_reference", "id": item.id}])
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_tokens.count(model="gpt-4o", conversation=bobs.id,
                                         input=[{"type": "item_reference", "id": item.id}])


def test_own_lists_page_with_clean_cursors(alice):
    made = [alice.responses.create(model="gpt-4o", input=f"page {n}").id for n in range(3)]
    token = os.environ["ALICE_TOKEN"]
    first = httpx.get(os.environ["THREADGATE_URL"] + "/v1/responses", params={"limit": 2},
                      headers={"Authorization": f"Bearer {token}"}).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    rest = httpx.get(os.environ["THREADGATE_URL"] + "/v1/responses",
                     params={"limit": 100, "after": first["last_id"]},
                     headers={"Authorization": f"Bearer {token}"}).json()
    seen = [r["id"] for r in first["data"]] + [r["id"] for r in rest["data"]]
    assert len(seen) == len(set(seen)) and set(made) <= set(seen)
