"""The chat page as a conversation, its statistics and its HTML export, in a real browser;
and what staff without the decrypt permission see of them (counts, never content)."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image
from playwright.sync_api import Page, expect

from messages.models import AuditEntry
from tests.browser.test_admin_in_a_browser import PLAINTEXT, TEAM_TITLE, log_in

CHAT = -1001234567890123  # the demo's team chat


def test_the_chat_reads_as_a_conversation_with_days_quotes_and_thumbnails(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("reader", decrypt=True))
    page.goto(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/")
    talk = page.locator("#conversation")
    expect(talk.locator(".day").first).to_contain_text("November 2026")
    quote = talk.locator("a.reply-quote").first
    expect(quote).to_contain_text("Marguerite Quillfeather")
    expect(quote).to_contain_text("Morning all!")
    expect(talk.locator(".album img.thumb")).to_have_count(2)  # the demo's album of two
    # Fetched one at a time (the browser loads several at once, and the test database, SQLite
    # in memory, then refuses concurrent audit writes with "table is locked").
    source = talk.locator("img.thumb").first.get_attribute("src")
    answer = page.request.get(f"{live_server.url}{source}")
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer.body())) as image:
        assert 0 < max(image.size) <= 320  # the sealed thumbnail, not the 1280 px file
    quote.click()
    expect(page.locator("#message-meta")).to_be_visible()  # the answered message's page
    assert AuditEntry.objects.filter(action="media-thumbnail").exists()


def test_jump_to_a_date_opens_the_chat_there_with_links_both_ways(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("reader", decrypt=True))
    page.goto(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/")
    page.fill("#id_date", "2026-11-02")
    page.click("#changelist-search input[type=submit]")
    expect(page.locator("#conversation .day").first).to_contain_text("2 November 2026")
    expect(page.locator("#conversation")).to_contain_text("Morning all!")


def test_the_statistics_page_draws_its_charts_and_counts(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("reader", decrypt=True))
    page.goto(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/")
    page.click("#stats-link")
    expect(page.locator("#per-day svg.chart rect.bar")).not_to_have_count(0)
    expect(page.locator("#per-hour svg.chart rect.bar")).to_have_count(24)
    expect(page.locator("#total")).to_have_text("25")
    expect(page.locator("#top-senders")).to_contain_text("Priya Raman")
    expect(page.locator("#media-kinds")).to_contain_text("photo")


def test_the_html_export_is_one_self_contained_page(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("lawyer-helper", decrypt=True))
    page.goto(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/")
    with page.expect_download() as download:
        page.click("#export-html")
    html = download.value.path().read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "@import" not in html
    assert "url(http" not in html
    assert TEAM_TITLE in html
    assert "Exported by" in html
    assert "lawyer-helper" in html
    assert "data:image/jpeg;base64," in html  # the photos travel inside the page
    done = AuditEntry.objects.get(action="chat-export-done")
    assert done.filters["messages"] == 25
    assert done.filters["complete"] is True
    assert AuditEntry.objects.get(action="chat-export").filters["format"] == "html"


def test_staff_without_the_permission_see_counts_and_no_content(
    page: Page, live_server: Any, live_demo: None, make_staff: Any
) -> None:
    log_in(page, live_server.url, *make_staff("auditor", decrypt=False))
    seen = []
    for path in ("", "stats/", "?date=2026-11-02"):
        page.goto(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/{path}")
        seen.append(page.content())
    expect(page.locator("#export-html")).to_have_count(0)
    expect(page.locator("#conversation img")).to_have_count(0)
    page.goto(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/stats/")
    expect(page.locator("#total")).to_have_text("25")
    expect(page.locator("#top-senders")).to_contain_text("user ")
    for html in seen:
        for text in (*PLAINTEXT, TEAM_TITLE, "Priya", "Morning all"):
            assert text not in html
    for fmt in ("html", "ndjson", "telegram"):
        answer = page.request.get(
            f"{live_server.url}/admin/archive/browsablechat/{CHAT}/export/?format={fmt}"
        )
        assert answer.status == 403
    answer = page.request.get(f"{live_server.url}/admin/archive/browsablechat/{CHAT}/senders/")
    assert answer.status == 403
