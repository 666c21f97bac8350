"""The official `openai` SDK runs the flows Threadgate relies on against the
emulator, with the OpenAI client and the Azure client (key and Entra)."""

import openai
import pytest
from openai import AssistantEventHandler
from typing_extensions import override

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def make_assistant(client, **extra):
    return client.beta.assistants.create(
        model="gpt-4o",
        name="emulator test",
        instructions="Answer briefly.",
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}, WEATHER_TOOL],
        **extra,
    )


def text_of(message) -> str:
    return "".join(part.text.value for part in message.content if part.type == "text")


def test_run_with_polling_replies_with_the_users_text(client):
    assistant = make_assistant(client)
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="Hello from the SDK")

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )

    assert run.status == "completed"
    assert run.usage is not None and run.usage.total_tokens > 0
    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert "Hello from the SDK" in text_of(messages[1])
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data
    assert steps[0].type == "message_creation"
    assert steps[0].step_details.message_creation.message_id == messages[1].id


def test_a_streamed_run_through_the_event_handler(client):
    assistant = make_assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "stream this please"}])

    class Collector(AssistantEventHandler):
        def __init__(self):
            super().__init__()
            self.deltas = []
            self.events = []

        @override
        def on_event(self, event):
            self.events.append(event.event)

        @override
        def on_text_delta(self, delta, snapshot):
            self.deltas.append(delta.value)

    collector = Collector()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=collector
    ) as stream:
        stream.until_done()

    assert len(collector.deltas) >= 2
    assert "stream this please" in "".join(collector.deltas)
    assert collector.events[0] == "thread.run.created"
    assert collector.events[-1] == "thread.run.completed"
    for expected in ["thread.run.in_progress", "thread.message.created", "thread.message.delta",
                     "thread.message.completed", "thread.run.step.completed"]:
        assert expected in collector.events
    final = collector.get_final_messages()
    assert "stream this please" in text_of(final[-1])


def test_a_tool_call_round_trip(client):
    assistant = make_assistant(client)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What does get_weather say about Oslo?"}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [call.function.name for call in calls] == ["get_weather"]

    # A message cannot be added while the run is active.
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread.id, role="user", content="too early")

    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "sunny and 21 degrees"}],
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert "sunny and 21 degrees" in text_of(reply)


def test_files_upload_download_and_the_assistants_output_file(client):
    uploaded = client.files.create(file=("notes.txt", b"The launch code is tangerine."), purpose="assistants")
    assert uploaded.purpose == "assistants"
    assert uploaded.bytes == len(b"The launch code is tangerine.")
    assert client.files.content(uploaded.id).read() == b"The launch code is tangerine."
    assert uploaded.id in [f.id for f in client.files.list()]

    assistant = make_assistant(client)
    thread = client.beta.threads.create(
        messages=[{
            "role": "user",
            "content": "Chart it #output-file",
            "attachments": [{"file_id": uploaded.id, "tools": [{"type": "code_interpreter"}]}],
        }]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    image = next(part for part in reply.content if part.type == "image_file")
    text = next(part for part in reply.content if part.type == "text")
    annotation = text.text.annotations[0]
    assert annotation.type == "file_path"
    assert annotation.file_path.file_id == image.image_file.file_id
    output = client.files.retrieve(image.image_file.file_id)
    assert output.purpose == "assistants_output"
    assert client.files.content(output.id).read().startswith(PNG_MAGIC)

    deleted = client.files.delete(uploaded.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_a_vector_store_with_a_file_and_file_search(client):
    uploaded = client.files.create(file=("faq.md", b"Refunds take five days."), purpose="assistants")
    store = client.vector_stores.create(name="faq", file_ids=[uploaded.id])
    assert store.file_counts.completed == 1
    files = client.vector_stores.files.list(vector_store_id=store.id).data
    assert [f.id for f in files] == [uploaded.id]
    results = client.vector_stores.search(vector_store_id=store.id, query="refunds")
    assert [r.file_id for r in results] == [uploaded.id]

    second = client.files.create(file=("more.md", b"Shipping is free."), purpose="assistants")
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[second.id])
    assert batch.status == "completed"
    assert client.vector_stores.retrieve(store.id).file_counts.total == 2

    assistant = make_assistant(client, tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    assert assistant.tool_resources.file_search.vector_store_ids == [store.id]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "How long do refunds take?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    assert client.vector_stores.delete(store.id).deleted


def test_list_pagination(client):
    thread = client.beta.threads.create()
    created = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"message {i}").id
        for i in range(5)
    ]
    first = client.beta.threads.messages.list(thread.id, limit=2, order="asc")
    assert [m.id for m in first.data] == created[:2]
    assert first.has_more
    # The SDK's auto-pagination follows `after` through every page.
    assert [m.id for m in client.beta.threads.messages.list(thread.id, limit=2, order="asc")] == created
    newest_first = client.beta.threads.messages.list(thread.id, limit=2)
    assert [m.id for m in newest_first.data] == created[::-1][:2]
    page = client.beta.threads.messages.list(thread.id, limit=2, order="asc", before=created[4])
    assert [m.id for m in page.data] == created[2:4]


def test_errors_raise_the_sdks_exceptions(client):
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve("thread_doesnotexist")
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.create(model=None)  # type: ignore[arg-type]
