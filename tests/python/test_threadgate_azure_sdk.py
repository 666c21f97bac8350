"""Azure's client (`openai.AzureOpenAI`) against Threadgate, as a user coming
from Azure OpenAI would point it: the endpoint and the credential change,
nothing else. Each way Azure's client sends a credential (an `api-key`, a
token, a token provider) runs the whole flow; another user sees none of it."""

import os

import openai
import pytest
from openai import AssistantEventHandler
from typing_extensions import override

API_VERSION = "2025-04-01-preview"


def azure(**credential) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=os.environ["THREADGATE_URL"], api_version=API_VERSION, max_retries=0, **credential
    )


CREDENTIALS = {
    # A tenant backend's API key in the `api-key` header, acting for alice.
    "api_key": lambda: azure(
        api_key=os.environ["BACKEND_KEY"], default_headers={"Threadgate-On-Behalf-Of": "alice"}
    ),
    # An end-user's token, as `Authorization: Bearer`.
    "azure_ad_token": lambda: azure(azure_ad_token=os.environ["ALICE_TOKEN"]),
    "azure_ad_token_provider": lambda: azure(azure_ad_token_provider=lambda: os.environ["ALICE_TOKEN"]),
}


@pytest.fixture(params=sorted(CREDENTIALS))
def client(request):
    return CREDENTIALS[request.param]()


@pytest.fixture
def bob():
    return azure(azure_ad_token=os.environ["BOB_TOKEN"])


def test_the_whole_flow_with_each_azure_credential(client, bob):
    assistants = client.beta.assistants.list().data
    assert os.environ["ASSISTANT_ID"] in [a.id for a in assistants]

    thread = client.beta.threads.create(metadata={"topic": "azure"})
    client.beta.threads.messages.create(thread.id, role="user", content="Hello from Azure's client")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=os.environ["ASSISTANT_ID"], poll_interval_ms=20
    )
    assert run.status == "completed"

    class Collector(AssistantEventHandler):
        def __init__(self):
            super().__init__()
            self.deltas = []

        @override
        def on_text_delta(self, delta, snapshot):
            self.deltas.append(delta.value)

    client.beta.threads.messages.create(thread.id, role="user", content="and stream this")
    collector = Collector()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=os.environ["ASSISTANT_ID"], event_handler=collector
    ) as stream:
        stream.until_done()
    assert "and stream this" in "".join(collector.deltas)
    roles = [m.role for m in client.beta.threads.messages.list(thread.id, order="asc").data]
    assert roles == ["user", "assistant", "user", "assistant"]

    uploaded = client.files.create(file=("faq.md", b"Refunds take five days."), purpose="assistants")
    store = client.vector_stores.create(name="faq", file_ids=[uploaded.id])
    assert [f.id for f in client.vector_stores.files.list(vector_store_id=store.id)] == [uploaded.id]

    # Bob, another user of the tenant, sees none of it.
    for attempt in (
        lambda: bob.beta.threads.retrieve(thread.id),
        lambda: bob.files.retrieve(uploaded.id),
        lambda: bob.vector_stores.retrieve(store.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()

    assert client.vector_stores.delete(store.id).deleted
    assert client.files.delete(uploaded.id).deleted
    assert client.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


def test_an_unsupported_api_version_is_a_400():
    old = openai.AzureOpenAI(
        azure_endpoint=os.environ["THREADGATE_URL"],
        api_version="2023-05-15",
        azure_ad_token=os.environ["ALICE_TOKEN"],
        max_retries=0,
    )
    with pytest.raises(openai.BadRequestError) as refused:
        old.beta.threads.create()
    assert "API version not supported" in str(refused.value)
