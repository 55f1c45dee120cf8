"""Staff read the archive in the admin with a real browser; the audit log shows it."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from messages.apikeys import create_api_key
from messages.models import AuditEntry

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
    expect(page.locator("#conversation")).to_contain_text("Never Friday.")
    expect(page.locator("#conversation")).to_contain_text("Marguerite Quillfeather")

    page.locator("#conversation a.edited").first.click()
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
    page.locator("#conversation .msg .meta a").first.click()
    seen.append(page.content())
    expect(page.locator("#versions")).to_contain_text("hidden")
    for html in seen:
        for text in (*PLAINTEXT, TEAM_TITLE):
            assert text not in html
    page.goto(f"{live_server.url}/admin/archive/auditentry/")
    # Only the sign-in itself is in the log: nothing was read.
    expect(page.locator("#changelist")).to_contain_text("1 audit entry")
    expect(page.locator("#result_list")).to_contain_text("sign-in")


def test_the_admin_lists_fit_a_laptop_screen_with_one_date_format(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    record, _ = create_api_key("a-reporting-tool-with-a-rather-long-name", [])
    AuditEntry.objects.create(
        channel=AuditEntry.API,
        actor=f"API key {record.name} ({record.prefix})",
        action="message-list",
        message_ids=[f"-1002087654321098:{n}" for n in range(884, 874, -1)],
        client_address="203.0.113.7",
    )
    User.objects.create_superuser("root-admin", password="browser-test-pw-2")
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server.url, "root-admin", "browser-test-pw-2")
    page.goto(f"{live_server.url}/admin/archive/browsablechat/")  # writes an audit entry
    for path in ("/admin/archive/auditentry/", "/admin/archive/apikey/"):
        page.goto(f"{live_server.url}{path}")
        table = page.locator("#result_list")
        expect(table).to_be_visible()
        overflow = page.evaluate(
            "() => { const t = document.querySelector('#result_list');"
            " return t.scrollWidth - t.parentElement.clientWidth; }"
        )
        assert overflow <= 0, (path, overflow)
        text = table.inner_text()
        assert re.search(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d\b", text), path
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d", text), path
        assert "a.m." not in text
        assert "p.m." not in text


def test_staff_see_the_demo_photo_hear_the_voice_note_and_download_the_document(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    """The demo's files, fetched and sealed by load_demo, shown decrypted: the photo drawn
    (its pixels decoded by the browser), the voice note playable, the PDF a download."""
    log_in(page, live_server.url, *make_staff("viewer", decrypt=True))
    page.goto(f"{live_server.url}/admin/archive/mediafile/?kind=photo")
    page.locator("#result_list tbody tr .field-message_link a").last.click()
    photo = page.locator(".media-file img")
    expect(photo).to_be_visible()
    page.wait_for_function("document.querySelector('.media-file img').complete")
    assert photo.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1280, 960]

    page.goto(f"{live_server.url}/admin/archive/mediafile/?kind=voice")
    page.locator("#result_list tbody tr .field-message_link a").first.click()
    audio = page.locator(".media-file audio")
    audio.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function("document.querySelector('.media-file audio').readyState >= 2")
    assert audio.evaluate("a => Math.round(a.duration)") == 3

    page.goto(f"{live_server.url}/admin/archive/mediafile/?kind=document")
    page.locator("#result_list tbody tr .field-message_link a").first.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the document").click()
    assert download.value.suggested_filename == "migration-notes-2.4.pdf"
    assert AuditEntry.objects.filter(action="media-download").count() >= 3


def test_staff_turn_on_a_chats_search_index_and_search_it(
    page: Page, live_server: Any, live_demo: None, make_staff: Any, tmp_path: Any
) -> None:
    from io import StringIO

    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    username, password = make_staff("indexer", decrypt=True)
    user = User.objects.get(username=username)
    user.user_permissions.add(Permission.objects.get(codename="manage_search_index"))
    log_in(page, live_server.url, username, password)
    page.get_by_role("link", name="Chats", exact=True).first.click()
    page.get_by_role("link", name=TEAM_TITLE).click()
    expect(page.locator("#search-index")).to_contain_text("Search index: off")
    page.click("#search-index-on")
    expect(page.locator(".messagelist")).to_contain_text("being built in the background")
    expect(page.locator("#search-index")).to_contain_text("being built")
    # The page's thumbnails are fetched (and audited) after it shows: the worker below shares
    # the test database with the live server, whose writes must be done first.
    page.wait_for_load_state("networkidle")
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", stdout=StringIO())

    page.fill("#id_q", "Staging")
    page.click("#changelist-search input[type=submit]")
    expect(page.locator("#search-index")).to_contain_text("Search index: on")
    expect(page.locator("#search-summary")).to_contain_text("Found with the chat's search index")
    rows = page.locator("#conversation .msg")
    expect(rows).to_have_count(4)  # the four that say it, in any case
    expect(page.locator("#conversation")).to_contain_text("Staging has twice the disk")
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    print(f"screenshot: {tmp_path / 'search.png'}")
