"""A Python client generated from the committed openapi/openapi.json by
openapi-python-client, as a user would generate one, runs the flow against
Threadgate: create a thread, add a message with plain string content, run
an assistant and poll it, read the answer; another user's copy of the same
client gets the documented 404 body."""

import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
POLLS = 500  # 10 s at 20 ms


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [
            # As a module: the environment's console scripts name the
            # interpreter of the directory it was built in.
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(ROOT / "openapi" / "openapi.json"),
            "--meta", "none",
            "--output-path", str(out / "threadgate_client"),
        ],
        check=True,
        # The generator formats its output with ruff, installed beside it.
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
    )
    sys.path.insert(0, str(out))
    import threadgate_client

    return threadgate_client


def test_the_generated_client_runs_a_conversation(generated):
    from threadgate_client import AuthenticatedClient
    from threadgate_client.api.messages import create_message, list_messages
    from threadgate_client.api.runs import create_run, get_run
    from threadgate_client.api.threads import create_thread, get_thread
    from threadgate_client.models import (
        CreateMessageRequest,
        CreateRunRequest,
        CreateThreadRequest,
        ErrorBody,
        MessageObject,
        RunObject,
        TextContentPart,
        ThreadObject,
    )

    url = os.environ["THREADGATE_URL"]
    alice = AuthenticatedClient(base_url=url, token=os.environ["ALICE_TOKEN"])
    bob = AuthenticatedClient(base_url=url, token=os.environ["BOB_TOKEN"])

    thread = create_thread.sync(client=alice, body=CreateThreadRequest())
    assert isinstance(thread, ThreadObject), thread
    message = create_message.sync(
        thread.id, client=alice, body=CreateMessageRequest(role="user", content="Hello, generated")
    )
    assert isinstance(message, MessageObject), message
    [part] = message.content
    assert isinstance(part, TextContentPart) and part.text.value == "Hello, generated"

    run = create_run.sync(thread.id, client=alice, body=CreateRunRequest(assistant_id=os.environ["ASSISTANT_ID"]))
    assert isinstance(run, RunObject), run
    for _ in range(POLLS):
        run = get_run.sync(thread.id, run.id, client=alice)
        if run.status not in ("queued", "in_progress"):
            break
        time.sleep(0.02)
    assert run.status == "completed", run.status
    assert run.usage is not None and run.usage.total_tokens > 0

    listed = list_messages.sync(thread.id, client=alice, order="asc")
    assert [m.role for m in listed.data] == ["user", "assistant"]
    answer = listed.data[1].content[0]
    assert isinstance(answer, TextContentPart) and "Hello, generated" in answer.text.value

    refused = get_thread.sync_detailed(thread.id, client=bob)
    assert refused.status_code == 404
    assert isinstance(refused.parsed, ErrorBody)
    assert refused.parsed.error.type_ == "invalid_request_error"
