"""The web widget in a real headless browser (Debian's chromium via Playwright) on the demo page,
against the real assistant: accessibility names, a real conversation over a websocket, reply
buttons, history after reload, inert HTML, keyboard-only use, a phone screen, sessions,
origins and reconnection. A screenshot is saved to test-artifacts/widget.png."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from bot.channels import NO_REPLY
from tests.fixtures_web import NO_BROWSER, WAIT_MS, WebSite, browser_available, open_page

# Skipped before the assistant starts when there is no browser (and CI is unset; in CI it is an error).
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not browser_available(), reason=NO_BROWSER)]
SESSION = re.compile(r"^[0-9a-f]{32}\.[0-9a-f]{24}$")
QUESTION = "find regenerative medicine clusters in Osaka"
XSS = "<img src=x onerror=alert(1)>"


def launcher(page):  # type: ignore[no-untyped-def]
    return page.get_by_role("button", name=re.compile("chat", re.I))


def open_widget(page, url: str):  # type: ignore[no-untyped-def]
    page.goto(url + "/")
    launcher(page).click()
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    return page.get_by_role("log")


def bot_messages(page):  # type: ignore[no-untyped-def]
    return page.locator(".kh-log .kh-bot")


def ask(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """Send `text` and wait for the assistant's next message."""
    before = bot_messages(page).count()
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(bot_messages(page).nth(before)).to_be_visible(timeout=WAIT_MS)


def stored(page, website: WebSite) -> dict:  # type: ignore[no-untyped-def]
    raw = page.evaluate("key => localStorage.getItem(key)", "kakehashi:" + website.assistant.rasa_url)
    return json.loads(raw or "null") or {}


def test_accessible_names_and_roles(page, website: WebSite):
    page.goto(website.url + "/")
    button = launcher(page)
    expect(button).to_have_count(1)
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.get_by_role("log")).to_be_visible()
    expect(page.get_by_role("dialog", name="Kakehashi")).to_be_visible()
    # data-primary-color="#0f5e9c" on the demo page, with white text on it
    expect(button).to_have_css("background-color", "rgb(15, 94, 156)")
    expect(button).to_have_css("color", "rgb(255, 255, 255)")


def test_conversation_buttons_history_and_websocket(page, website: WebSite, artifacts):
    log = open_widget(page, website.url)
    ask(page, QUESTION)
    expect(log).to_contain_text("Osaka Bio Headquarters", timeout=WAIT_MS)
    expect(page.locator(".kh-card-name").filter(has_text="Osaka Bio Headquarters").first).to_be_visible()
    page.wait_for_function("() => KakehashiWidget.transport() === 'websocket'", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts / "widget.png"))

    # A reply button: its title is shown as the user's message and the assistant answers it.
    results = bot_messages(page).filter(has=page.locator(".kh-reply")).last
    first = results.locator(".kh-card-name").first.inner_text()
    reply = results.locator(".kh-reply").filter(has_text=re.compile("^Details")).first
    title = reply.inner_text()
    before = bot_messages(page).count()
    reply.click()
    expect(page.locator(".kh-user .kh-text").last).to_have_text(title)
    expect(bot_messages(page).nth(before)).to_be_visible(timeout=WAIT_MS)
    answer = bot_messages(page).nth(before)
    expect(answer).not_to_contain_text(NO_REPLY[:40])
    expect(answer).to_contain_text(first)  # the details of result no. 1
    expect(page.locator(".kh-user .kh-reply")).to_have_count(0)

    # Reload (or go to another page of the site): the conversation is still there.
    session = stored(page, website)["session"]
    assert SESSION.match(session)
    page.reload()
    expect(page.get_by_role("log")).to_contain_text(QUESTION)
    expect(page.get_by_role("log")).to_contain_text("Osaka Bio Headquarters")
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()  # the panel stays open
    ask(page, "thanks")
    assert stored(page, website)["session"] == session, "the same conversation goes on"
    assert not page.probe.errors


def test_html_from_the_user_is_shown_as_text(page, website: WebSite):
    open_widget(page, website.url)
    ask(page, XSS)
    expect(page.locator(".kh-user .kh-text").last).to_have_text(XSS)
    assert page.locator(".kh-log img").count() == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.probe.dialogs == []


def test_markdown_subset_makes_only_safe_links(page, website: WebSite):
    page.goto(website.url + "/")
    result = page.evaluate("""() => {
        const d = document.createElement('div');
        d.appendChild(KakehashiWidget.renderMarkdown(
            '**Bold** and _italics_ <b>not bold</b> <img src=x onerror=alert(1)>\\n' +
            '- [a javascript link](javascript:alert(1))\\n' +
            '- [shouting](JaVaScRiPt:alert(1)) [data](data:text/html,hi) [relative](/x)\\n' +
            '1. [a web link](https://example.org/a)\\n' +
            '2. mail team@example.org via mailto:team@example.org or see https://example.org/b.'));
        return {
            links: [...d.querySelectorAll('a')].map(a => [a.getAttribute('href'), a.rel, a.target, a.textContent]),
            tags: [...d.querySelectorAll('*')].map(e => e.tagName.toLowerCase()),
            text: d.textContent,
        };
    }""")
    assert result["links"] == [
        ["https://example.org/a", "noopener noreferrer", "_blank", "a web link"],
        ["mailto:team@example.org", "noopener noreferrer", "_blank", "mailto:team@example.org"],
        ["https://example.org/b", "noopener noreferrer", "_blank", "https://example.org/b"],
    ]
    assert set(result["tags"]) == {"p", "strong", "em", "ul", "ol", "li", "a"}
    assert "[a javascript link](javascript:alert(1))" in result["text"]
    assert "<b>not bold</b> <img src=x onerror=alert(1)>" in result["text"]
    assert page.probe.dialogs == []


def websocket_passthrough(page, website: WebSite) -> list:
    """Open the widget with its websocket routed through the test (so the test can inject
    server events or drop the connection); returns the routes, newest last."""
    routes: list = []

    def through(ws):  # type: ignore[no-untyped-def]
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r"/socket\.io/"), through)
    open_widget(page, website.url)
    ask(page, "hello")
    page.wait_for_function("() => KakehashiWidget.transport() === 'websocket'", timeout=WAIT_MS)
    return routes


def test_staff_messages_and_assistant_content_over_the_socket(page, website: WebSite):
    """Events the server sends (injected into the real websocket): a staff message is announced
    as the helpdesk's, and markup in the assistant's text, cards and links stays inert."""
    routes = websocket_passthrough(page, website)
    staff = {
        "text": "Hello, this is **Aiko** from the helpdesk.",
        "custom": {"kakehashi": {"from": "staff", "name": "Aiko"}},
    }
    hostile = {
        "text": f"{XSS} [click](javascript:alert(1))",
        "quick_replies": [{"title": XSS, "payload": "/greet"}],
        "custom": {
            "kakehashi": {
                "type": "organisations",
                "items": [
                    {
                        "name": XSS,
                        "place": "Osaka",
                        "country": "Japan",
                        "sectors": ["<b>x</b>"],
                        "website": "javascript:alert(1)",
                    }
                ],
            }
        },
    }
    for event in (staff, hostile):
        routes[-1].send("42" + json.dumps(["bot_uttered", event]))
    expect(page.locator(".kh-staff .kh-from")).to_have_text("Helpdesk — Aiko")
    expect(page.locator(".kh-staff strong")).to_have_text("Aiko")
    expect(page.locator(".kh-card-name").last).to_have_text(XSS)
    expect(page.locator(".kh-reply").last).to_have_text(XSS)
    expect(bot_messages(page).last).to_contain_text("[click](javascript:alert(1))")
    assert page.locator(".kh-log img, .kh-log b").count() == 0
    hrefs = page.locator(".kh-log a").evaluate_all("links => links.map(a => a.href)")
    assert not [h for h in hrefs if not h.startswith(("http:", "https:", "mailto:"))]
    assert page.probe.dialogs == []


def test_keyboard_only(page, website: WebSite):
    page.goto(website.url + "/")
    button = launcher(page)
    for _ in range(40):  # Tab through the page's links to the launcher
        page.keyboard.press("Tab")
        if button.evaluate("b => b.getRootNode().activeElement === b"):
            break
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    box = page.get_by_role("textbox", name="Message")
    expect(box).to_be_focused()
    before = bot_messages(page).count()
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator(".kh-user .kh-text").last).to_have_text(QUESTION)
    expect(bot_messages(page).nth(before)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("log")).to_contain_text("Osaka Bio Headquarters", timeout=WAIT_MS)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Escape")
    expect(box).to_be_hidden()
    expect(button).to_be_focused()


def test_phone_screen(browser, website: WebSite):
    context, page, _ = open_page(browser, viewport={"width": 360, "height": 740})
    try:
        open_widget(page, website.url)
        ask(page, QUESTION)
        for name, locator in [
            ("panel", page.get_by_role("dialog")),
            ("textbox", page.get_by_role("textbox", name="Message")),
            ("send", page.get_by_role("button", name="Send")),
        ]:
            box = locator.bounding_box()
            assert box is not None, name
            assert box["x"] >= 0 and box["y"] >= 0, name
            assert box["x"] + box["width"] <= 360 and box["y"] + box["height"] <= 740, name
        log = page.get_by_role("log")
        assert log.evaluate("l => l.scrollWidth <= l.clientWidth"), "nothing overflows sideways"
        send = page.get_by_role("button", name="Send").bounding_box()
        assert send["width"] >= 44 and send["height"] >= 44, "a comfortable touch target"
        page.get_by_role("button", name="Send").focus()
        page.keyboard.press("Tab")  # full screen: focus stays in the panel instead of going behind it
        assert page.get_by_role("dialog").evaluate("d => d.contains(d.getRootNode().activeElement)")
    finally:
        context.close()


def test_a_forged_stored_session_is_replaced(browser, website: WebSite):
    context, page, _ = open_page(browser)
    try:
        key = "kakehashi:" + website.assistant.rasa_url
        forged = {"session": "0123456789abcdef0123456789abcdef.000000000000000000000000", "entries": [], "open": True}
        page.add_init_script(f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(forged))})")
        page.goto(website.url + "/")
        page.wait_for_function("() => KakehashiWidget.connected()", timeout=WAIT_MS)
        session = stored(page, website)["session"]
        assert SESSION.match(session) and session != forged["session"]
        ask(page, "hello")
        expect(bot_messages(page).last).not_to_contain_text(NO_REPLY[:40])
    finally:
        context.close()


def test_a_page_from_an_unknown_origin_is_refused(page, website: WebSite):
    other = website.url.replace("127.0.0.1", "localhost")  # same server, an origin the assistant does not allow
    page.goto(other + "/")
    launcher(page).click()
    expect(page.locator(".kh-status")).to_have_text(re.compile("Cannot reach the assistant"), timeout=WAIT_MS)
    assert not page.evaluate("KakehashiWidget.connected()")


def test_reconnects_after_the_connection_drops(page, website: WebSite):
    routes = websocket_passthrough(page, website)
    session = stored(page, website)["session"]
    routes[-1].close(code=1011, reason="server restart")  # as when the server goes away
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(routes) < 2 and time.monotonic() < deadline:  # socket.io reconnects by itself
        page.wait_for_timeout(200)
    page.wait_for_function(
        "() => KakehashiWidget.connected() && KakehashiWidget.transport() === 'websocket'", timeout=WAIT_MS
    )
    ask(page, QUESTION)
    expect(page.get_by_role("log")).to_contain_text("Osaka Bio Headquarters", timeout=WAIT_MS)
    assert len(routes) >= 2, "a new websocket was opened"
    assert stored(page, website)["session"] == session


def test_tabs_of_one_site_share_the_conversation(browser, website: WebSite):
    context, first, _ = open_page(browser)
    try:
        open_widget(first, website.url)
        first.wait_for_function("() => KakehashiWidget.connected()", timeout=WAIT_MS)
        second = context.new_page()
        second.goto(website.url + "/")
        second.wait_for_function("() => KakehashiWidget.connected()", timeout=WAIT_MS)  # same conversation
        ask(first, "hello")
        expect(second.locator(".kh-user .kh-text")).to_have_text(["hello"])
        count = first.locator(".kh-log .kh-msg").count()
        expect(second.locator(".kh-log .kh-msg")).to_have_count(count)  # the reply reached both: stored once
        ids = second.locator(".kh-log .kh-msg").evaluate_all("ms => ms.map(m => m.dataset.id)")
        assert len(set(ids)) == len(ids) == count
    finally:
        context.close()
