"""Staff read the archive in the admin with a real browser; the audit log shows it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

TEAM_TITLE = "Quillfeather Release Crew"
PLAINTEXT = ("Marguerite", "Quillfeather", "mquillfeather_zz", "Code freeze", "Never Friday")


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("groupie")


def test_staff_read_a_chat_and_a_message_history_and_find_it_audited(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("reader", decrypt=True))
    page.get_by_role("link", name="Chats", exact=True).first.click()
    page.get_by_role("link", name=TEAM_TITLE).click()
    expect(page.locator("#result_list")).to_contain_text("Never Friday.")
    expect(page.locator("#result_list")).to_contain_text("Marguerite Quillfeather")

    edited = page.locator("#result_list tbody tr", has=page.locator("strong[title=edited]"))
    edited.first.locator("th a").click()
    versions = page.locator("#versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text("original")
    expect(page.locator("#raw-json")).to_contain_text('"message_id"')

    page.goto(f"{live_server.url}/admin/archive/auditentry/")
    log = page.locator("#result_list")
    expect(log).to_contain_text("message-detail")
    expect(log).to_contain_text("message-list")
    expect(log).to_contain_text("reader")


def test_staff_without_the_permission_see_no_plaintext_anywhere(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("auditor", decrypt=False))
    seen = [page.content()]
    page.get_by_role("link", name="Chats", exact=True).first.click()
    seen.append(page.content())
    page.locator("#result_list tbody tr th a").first.click()
    seen.append(page.content())
    page.locator("#result_list tbody tr th a").first.click()
    seen.append(page.content())
    expect(page.locator("#versions")).to_contain_text("hidden")
    for html in seen:
        for text in (*PLAINTEXT, TEAM_TITLE):
            assert text not in html
    page.goto(f"{live_server.url}/admin/archive/auditentry/")
    expect(page.locator("#changelist")).to_contain_text("0 audit log")
