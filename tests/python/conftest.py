"""Shared fixtures: where the emulator is, and SDK clients of both flavours.

The Rust test that runs pytest (tests/e2e/python.rs) starts the emulator and
passes its address in the environment.
"""

import os

import httpx
import openai
import pytest

API_VERSION = "2025-04-01-preview"


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run these tests through `cargo test`")
    return value


@pytest.fixture(scope="session")
def emulator_url() -> str:
    return _require("EMULATOR_BASE_URL")


@pytest.fixture(scope="session")
def emulator_key() -> str:
    return _require("EMULATOR_API_KEY")


def entra_token(emulator_url: str) -> str:
    """A token from the emulator's Entra-like endpoint (client credentials)."""
    response = httpx.post(
        f"{emulator_url}/test-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": os.environ.get("EMULATOR_CLIENT_ID", "emulator-client"),
            "client_secret": os.environ.get("EMULATOR_CLIENT_SECRET", "emulator-secret"),
            "scope": "https://cognitiveservices.azure.com/.default",
        },
    )
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture(params=["openai", "azure-key", "azure-entra"])
def client(request, emulator_url, emulator_key):
    """The official SDK pointed at the emulator: OpenAI, and Azure with an
    API key or an Entra token."""
    if request.param == "openai":
        return openai.OpenAI(api_key=emulator_key, base_url=f"{emulator_url}/v1", max_retries=0)
    if request.param == "azure-key":
        return openai.AzureOpenAI(
            api_key=emulator_key,
            api_version=API_VERSION,
            azure_endpoint=emulator_url,
            max_retries=0,
        )
    return openai.AzureOpenAI(
        azure_ad_token_provider=lambda: entra_token(emulator_url),
        api_version=API_VERSION,
        azure_endpoint=emulator_url,
        max_retries=0,
    )
