"""/docs in a real browser: a user authorizes with a token and creates a
thread from the page. Chromium is the system's (Debian's `chromium`);
where none is installed, the test is skipped and says why."""

import os
import shutil

import pytest
from playwright.sync_api import sync_playwright

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (Debian: apt-get install chromium)")
def test_a_user_authorizes_and_creates_a_thread_from_the_docs_page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(os.environ["THREADGATE_URL"] + "/docs/")

        page.click("button.authorize")
        bearer = page.locator(".auth-container").first
        bearer.locator("input").first.fill(os.environ["TOKEN"])
        bearer.locator("button.authorize").first.click()
        page.locator("button.btn-done").first.click()

        create = page.locator("#operations-Threads-createThread")
        create.locator(".opblock-summary").click()
        create.locator("textarea.body-param__text").fill('{"metadata": {"from": "docs"}}')
        create.locator("button.execute").click()
        status = create.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=15000)
        assert status.inner_text().strip() == "200"
        body = create.locator(".live-responses-table tbody .response-col_description").first.inner_text()
        assert '"object": "thread"' in body
        browser.close()
