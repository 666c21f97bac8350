"""Threadgate's own rate limits as the official `openai` SDK sees them: a
429 with Retry-After is a `RateLimitError`, and the SDK's retry waits as
long as Retry-After says before it tries again."""

import os
import time

import openai

LIMIT = 20  # requests a minute: one comes back every 3 s


def client_for(token: str, retries: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["THREADGATE_URL"] + "/v1", api_key=token, max_retries=retries)


def test_a_user_over_the_limit_gets_rate_limit_error_and_the_retry_honours_retry_after():
    admin = client_for(os.environ["ADMIN_TOKEN"], 0)
    policy = admin.post("/organization/policy", cast_to=object, body={"user_requests_per_minute": LIMIT})
    assert policy["user_requests_per_minute"] == LIMIT

    alice = client_for(os.environ["ALICE_TOKEN"], 0)
    for _ in range(LIMIT):
        alice.models.list()
    try:
        alice.models.list()
        raise AssertionError("the request over the limit was admitted")
    except openai.RateLimitError as refused:
        assert refused.status_code == 429
        assert refused.code == "rate_limit_exceeded"
        retry_after_ms = int(refused.response.headers["retry-after-ms"])
        assert 0 < retry_after_ms <= 3000, retry_after_ms
        assert refused.response.headers["x-ratelimit-remaining-requests"] == "0"

    # The SDK's own backoff would wait under a second; Retry-After says up
    # to 3 s, and the retry is admitted only once that has passed.
    retrying = client_for(os.environ["ALICE_TOKEN"], 2)
    started = time.monotonic()
    page = retrying.models.with_raw_response.list()
    waited = time.monotonic() - started
    assert page.http_request is not None
    assert page.retries_taken == 1, page.retries_taken
    assert waited >= 1.0, f"retried after {waited:.2f} s, before Retry-After"
