"""Live answers against the committed document's schemas, extra fields
refused: a sample of every kind of object Threadgate answers with, read
through both surfaces, must match what openapi/openapi.json says field for
field, so the document cannot drift from the wire."""

import copy
import json
import os
import pathlib
import time

import httpx
import pytest
from jsonschema import Draft202012Validator

DOCUMENT = json.loads(
    (pathlib.Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text()
)
AZURE_VERSION = "2025-04-01-preview"
POLLS = 500  # 10 s at 20 ms


def _closed(node):
    """Every object schema that lists its properties refuses others."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _closed(value) for key, value in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


COMPONENTS = _closed(copy.deepcopy(DOCUMENT["components"]))


class Checked:
    """Calls Threadgate and checks each answer against the document."""

    def __init__(self, surface: str):
        self.surface = surface
        self.http = httpx.Client(
            base_url=os.environ["THREADGATE_URL"],
            headers={"Authorization": f"Bearer {os.environ['ALICE_TOKEN']}"},
            timeout=10,
        )
        self.checked = set()

    def call(self, method: str, template: str, *ids: str, status: int = 200, **kwargs):
        path = template
        for name in [part[1:-1] for part in template.split("/") if part.startswith("{")]:
            path = path.replace("{" + name + "}", ids[0], 1)
            ids = ids[1:]
        url = path
        if self.surface == "/openai":
            url = "/openai" + path[len("/v1"):]
            kwargs.setdefault("params", {})["api-version"] = AZURE_VERSION
        response = self.http.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.text)
        operation = DOCUMENT["paths"][template][method.lower()]
        documented = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        schema = {**_closed(copy.deepcopy(documented)), "components": COMPONENTS}
        errors = sorted(
            Draft202012Validator(schema).iter_errors(response.json()),
            key=lambda error: list(error.absolute_path),
        )
        assert not errors, f"{method} {template} on {self.surface}: " + "; ".join(
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors[:5]
        )
        self.checked.add((method, template))
        return response.json()


@pytest.mark.parametrize("surface", ["/v1", "/openai"])
def test_answers_are_what_the_document_says(surface):
    api = Checked(surface)
    assistant = os.environ["ASSISTANT_ID"]
    api.call("GET", "/v1/assistants")
    api.call("GET", "/v1/assistants/{assistant_id}", assistant)
    if surface == "/v1":
        api.call("GET", "/v1/models")
    else:
        # Azure's model object (its authoring API's), not the document's.
        models = api.http.get("/openai/models", params={"api-version": AZURE_VERSION}).json()["data"]
        assert models and all({"id", "object", "created_at"} <= model.keys() for model in models), models

    thread = api.call("POST", "/v1/threads", json={"metadata": {"topic": "schemas"}})["id"]
    api.call("GET", "/v1/threads")
    api.call("GET", "/v1/threads/{thread_id}", thread)
    api.call("POST", "/v1/threads/{thread_id}", thread, json={"metadata": {"topic": "changed"}})
    message = api.call(
        "POST", "/v1/threads/{thread_id}/messages", thread,
        json={"role": "user", "content": [{"type": "text", "text": "Hello, schemas"}]},
    )["id"]
    api.call("GET", "/v1/threads/{thread_id}/messages/{message_id}", thread, message)
    run = api.call("POST", "/v1/threads/{thread_id}/runs", thread, json={"assistant_id": assistant})["id"]
    for _ in range(POLLS):
        current = api.call("GET", "/v1/threads/{thread_id}/runs/{run_id}", thread, run)
        if current["status"] not in ("queued", "in_progress"):
            break
        time.sleep(0.02)
    assert current["status"] == "completed", current
    api.call("GET", "/v1/threads/{thread_id}/runs", thread)
    api.call("GET", "/v1/threads/{thread_id}/messages", thread)
    steps = api.call("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps", thread, run)["data"]
    api.call("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", thread, run, steps[0]["id"])

    uploaded = api.http.post(
        "/v1/files", files={"file": ("refunds.txt", b"Refunds take five days.")}, data={"purpose": "assistants"}
    ).json()
    api.call("GET", "/v1/files/{file_id}", uploaded["id"])
    api.call("GET", "/v1/files")
    store = api.call("POST", "/v1/vector_stores", json={"name": "schemas", "file_ids": [uploaded["id"]]})["id"]
    api.call("GET", "/v1/vector_stores/{vector_store_id}", store)
    api.call("GET", "/v1/vector_stores")
    api.call("GET", "/v1/vector_stores/{vector_store_id}/files", store)
    api.call("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}", store, uploaded["id"])
    api.call("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}/content", store, uploaded["id"])
    api.call("POST", "/v1/vector_stores/{vector_store_id}/search", store, json={"query": "refunds"})
    batch = api.call(
        "POST", "/v1/vector_stores/{vector_store_id}/file_batches", store, json={"file_ids": [uploaded["id"]]}
    )["id"]
    api.call("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}", store, batch)
    api.call("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/files", store, batch)

    api.call("DELETE", "/v1/threads/{thread_id}/messages/{message_id}", thread, message)
    api.call("DELETE", "/v1/vector_stores/{vector_store_id}", store)
    api.call("DELETE", "/v1/threads/{thread_id}", thread)
    api.call("DELETE", "/v1/files/{file_id}", uploaded["id"])
    # Errors too, in each surface's spelling.
    api.call("GET", "/v1/threads/{thread_id}", thread, status=404)
    assert len(api.checked) == (31 if surface == "/v1" else 30)
