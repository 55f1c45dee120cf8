"""The admin, the browsable API and Swagger UI work under the Content-Security-Policy: a real
browser loads each with no violation reported, and a script injected inline is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.test_admin_in_a_browser import log_in

# Every violation the page reports, whatever reported it (the console line can be phrased
# differently from one Chromium to the next; the event is the standard).
COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(
    `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`
  );
});
"""


@pytest.fixture
def watched(page: Page) -> tuple[Page, list[str]]:
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            console.append(message.text)

    page.on("console", keep)
    page.add_init_script(COLLECT_VIOLATIONS)
    return page, console


def violations(page: Page, console: list[str]) -> list[str]:
    return [*page.evaluate("window.__violations"), *console]


def test_the_admin_api_and_docs_load_without_a_violation(
    watched: tuple[Page, list[str]], live_server: Any, live_demo: None
) -> None:
    page, console = watched
    User.objects.create_superuser("csp-admin", password="browser-test-pw-3")
    log_in(page, live_server.url, "csp-admin", "browser-test-pw-3")
    base = live_server.url
    for path, ready in [
        ("/admin/", "#content-main"),
        ("/admin/archive/browsablechat/", "#result_list"),
        ("/admin/archive/auditentry/", "#result_list"),
        ("/admin/archive/chatretention/add/", "#id_days"),
        ("/admin/archive/searchindex/", "#changelist"),
        ("/api/v1/chats/", ".response-info"),
        ("/api/v1/messages/?page_size=5", ".response-info"),
        ("/api/docs/", ".swagger-ui .opblock"),
    ]:
        page.goto(f"{base}{path}")
        expect(page.locator(ready).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert violations(page, console) == [], path
    # A chat's page (filters with their date pickers) and a message's.
    page.goto(f"{base}/admin/archive/browsablechat/")
    page.locator("#result_list tbody tr th a").first.click()
    page.locator("#id_sender").focus()  # the senders' suggestions: a script file, a fetch
    expect(page.locator("#sender-names option")).not_to_have_count(0)
    page.locator("#conversation .msg .meta a").first.click()
    expect(page.locator("#raw-json")).to_be_visible()
    assert violations(page, console) == []
    page.goto(f"{base}/admin/archive/browsablechat/")
    page.locator("#result_list tbody tr th a").first.click()
    page.click("#stats-link")
    expect(page.locator("#per-day svg")).to_be_visible()
    assert violations(page, console) == []


def test_an_injected_inline_script_is_refused(
    watched: tuple[Page, list[str]], live_server: Any, transactional_db: None
) -> None:
    page, _ = watched
    User.objects.create_superuser("csp-admin", password="browser-test-pw-3")
    log_in(page, live_server.url, "csp-admin", "browser-test-pw-3")
    for path in ("/admin/", "/api/docs/"):
        page.goto(f"{live_server.url}{path}")
        ran = page.evaluate(
            """() => {
              const s = document.createElement("script");
              s.textContent = "window.__injected = true";
              document.body.appendChild(s);
              return window.__injected === true;
            }"""
        )
        assert ran is False, path
        assert any(v.startswith("script-src") for v in page.evaluate("window.__violations"))
