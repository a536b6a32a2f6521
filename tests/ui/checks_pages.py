"""Signing in, the scripts list, creating and uploading, settings, keys, dependencies, escaping,
and the original gateway's page addresses."""
import re

from harness import wait_until

EVIL_TEXT = "<img src=x onerror=alert('xss')></script><script>alert(1)</script>"


def test_key_prompt_then_401_returns_to_it(session):
    s = session()
    s.go("/")
    s.page.wait_for_selector("#api-key")
    assert not s.page.is_visible("#sign-out"), "nothing to sign out of yet"
    # /health says a key is needed: the prompt comes before any request is refused.
    assert s.refusals == [], f"the first visit was refused: {s.refusals}"
    s.page.fill("#api-key", "not-the-key")
    s.page.click("form button[type=submit]")
    s.page.wait_for_selector("text=That key was refused")
    assert s.page.evaluate("sessionStorage.getItem('sg-api-key')") is None, "a refused key is dropped"
    s.page.fill("#api-key", s.key)
    s.page.click("form button[type=submit]")
    s.page.wait_for_selector("#script-rows table")
    assert s.page.evaluate("sessionStorage.getItem('sg-api-key')") == s.key
    assert s.page.is_visible("#sign-out")
    # A key that stops working anywhere sends the user back to the prompt.
    s.page.evaluate("sessionStorage.setItem('sg-api-key', 'revoked-meanwhile')")
    s.go("/runs")
    s.page.wait_for_selector("text=That key was refused")
    s.page.fill("#api-key", s.key)
    s.page.click("form button[type=submit]")
    s.page.wait_for_selector("#run-rows")
    s.page.click("#sign-out")
    s.page.wait_for_selector("#api-key")
    assert s.page.evaluate("sessionStorage.getItem('sg-api-key')") is None
    assert not s.page.is_visible("#sign-out")


def test_scripts_list_searches_and_filters(session):
    s = session()
    s.sign_in("/")
    page = s.page
    rows = lambda: page.locator("#script-rows tbody tr")  # noqa: E731
    total = rows().count()
    assert total >= 7, f"every fixture is listed, got {total}"
    for column in ["Script", "Runtime", "Status", "Dependencies", "Last run", "Runs"]:
        assert page.locator("#script-rows th", has_text=column).count() == 1, column
    page.fill("#search", "slowly")
    wait_until(lambda: rows().count() == 1, "the search narrows to one script")
    assert "slow_lines" in rows().first.inner_text()
    page.fill("#search", "")
    page.select_option("#runtime", "js")
    wait_until(lambda: rows().count() == 1, "the runtime filter")
    assert "shout" in rows().first.inner_text()
    page.select_option("#runtime", "")
    page.select_option("#status", "error")
    wait_until(lambda: rows().count() >= 1 and all("error" in t for t in rows().all_inner_texts()), "the status filter")
    assert "not valid JSON" in page.inner_text("#script-rows"), "the load error is shown"
    s.shot("scripts")


def test_create_from_template_and_upload(session):
    s = session()
    s.sign_in("/")
    page = s.page
    page.fill("#new-path", "python/made_in_ui.py")
    page.click("#create-form button[type=submit]")
    page.wait_for_selector("#run-form")
    assert "made_in_ui" in page.inner_text("h1")
    s.go("/")
    page.set_input_files("#upload-file", files=[{"name": "uploaded_tool.py", "mimeType": "text/x-python",
                                                 "buffer": b'"""Uploaded."""\nimport json, sys\nif __name__ == "__main__":\n    if "--_sys_get_schema" in sys.argv:\n        print(json.dumps({"n": {"flag": "--n", "type": "int"}}))\n'}])
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("[data-param=n]")
    assert "uploaded_tool" in page.inner_text("h1")


def test_settings_show_sources_and_inline_errors(session):
    s = session()
    s.sign_in("/settings")
    page = s.page
    page.wait_for_selector("#set-timeout_sec")
    assert "default" in page.inner_text("#settings-form"), "sources are shown"
    page.fill("#set-timeout_sec", "-5")
    page.click("#save-settings")
    page.wait_for_selector("#set-timeout_sec-error:has-text('between')")
    assert page.get_attribute("#set-timeout_sec", "aria-invalid") is not None
    page.fill("#set-timeout_sec", "120")
    page.click("#save-settings")
    wait_until(lambda: s.api("GET", "/api/settings")["settings"]["timeout_sec"]["source"] == "db", "the setting stored")
    page.wait_for_selector("#set-timeout_sec-error", state="attached")
    assert page.input_value("#set-timeout_sec") == "120"
    # A choice setting is a list of its words, saved like any other.
    assert page.eval_on_selector("#set-execution_mode", "e => e.tagName") == "SELECT"
    before = page.input_value("#set-execution_mode")
    chosen = "warm" if before == "cold" else "cold"
    page.select_option("#set-execution_mode", chosen)
    page.click("#save-settings")
    stored = lambda: s.api("GET", "/api/settings")["settings"]["execution_mode"]
    wait_until(lambda: stored()["value"] == chosen and stored()["source"] == "db", "the choice stored")
    page.reload()
    page.wait_for_selector("#set-execution_mode")
    assert page.input_value("#set-execution_mode") == chosen
    s.shot("settings")


def test_keys_are_created_once_shown_and_revoked(session):
    s = session()
    s.sign_in("/keys")
    page = s.page
    page.fill("#key-name", "from-the-ui")
    page.select_option("#key-scope", "run")
    page.click("text=Create key")
    secret = page.inner_text("#secret")
    assert secret.startswith("sgk_"), secret
    assert page.locator("td", has_text="from-the-ui").count() == 1
    s.shot("keys")
    page.reload()
    page.wait_for_selector("text=from-the-ui")
    assert secret not in page.content(), "the secret is shown once only"
    row = page.locator("tr", has_text="from-the-ui")
    row.locator("button", has_text="Revoke").click()
    row.locator("button", has_text="Yes, revoke").click()
    page.wait_for_selector("tr:has-text('from-the-ui') >> text=revoked")


def test_deps_page_installs_and_shows_the_log(session):
    s = session()
    s.sign_in("/deps")
    page = s.page
    row = page.locator("tr", has_text="withdeps")
    row.locator("button", has_text="Reinstall").click()
    page.wait_for_selector("#install-log-text", timeout=120000)
    wait_until(lambda: "sgdemo" in page.inner_text("#install-log"), "the install log", 120)
    assert "ready" in page.inner_text("#install-log")
    assert page.locator("h2:has-text('Caches (1,')").count() == 1
    assert "sgdemo==1.0" in page.inner_text("table >> nth=1"), "the cache and its set"
    page.fill("#cleanup-days", "0")
    page.click("text=Clean up unused caches")
    page.wait_for_selector("#toast >> text=Removed 0 caches")  # the only cache is in use


def test_script_controlled_text_is_never_markup(session):
    s = session()
    s.sign_in("/")
    page = s.page
    page.fill("#search", "onerror")
    wait_until(lambda: page.locator("#script-rows tbody tr").count() == 1, "the XSS script listed")
    assert "<img src=x" in page.inner_text("#script-rows"), "the description is shown as text"
    xss = s.script_id("python/xss.py")
    s.go(f"/scripts/{xss}")
    page.wait_for_selector("#run-form")
    assert EVIL_TEXT in page.inner_text("#run-form"), "help and the name are text"
    page.select_option("#run-form select", label=EVIL_TEXT)
    page.click("#run")
    page.wait_for_selector(".result")
    assert EVIL_TEXT in page.inner_text(".result"), "data and stderr are text"
    s.go(f"/runs/{s.api('GET', f'/api/runs?script_id={xss}')['items'][0]['id']}")
    page.wait_for_selector(".result")
    injected = page.evaluate("""() => ({
        imgs: document.querySelectorAll('img').length,
        scripts: [...document.scripts].map(s => s.src),
        onerror: document.querySelectorAll('[onerror]').length })""")
    assert injected["imgs"] == 0 and injected["onerror"] == 0, injected
    assert all(src.endswith("/ui/app.js") for src in injected["scripts"]), injected
    assert not any("dialog" in p for p in s.problems), s.problems


def test_old_page_addresses_lead_to_the_new_pages(session):
    s = session()
    s.sign_in("/")
    for old, selector in [("/deps.html", "text=Scripts with dependency files"),
                          ("/settings.html", "#settings-form"), ("/templates.html", "#tpl-python")]:
        s.page.goto(s.base + old)
        s.page.wait_for_selector(selector)
    s.page.goto(s.base + "/swagger")
    assert re.search(r"/docs/$", s.page.url), s.page.url



def test_the_keyboard_alone_finds_and_runs_a_script(session):
    s = session()
    s.sign_in("/")
    page = s.page
    page.wait_for_selector("#script-rows table")
    assert page.evaluate("document.activeElement.id") == "search", "the search has the focus"
    page.keyboard.type("shout")
    for _ in range(3):  # runtime, status, then the first script's link
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "shout"
    page.keyboard.press("Enter")
    page.wait_for_selector("#run-form")
    page.focus("[data-param='word'] input")
    page.keyboard.press("Control+A")
    page.keyboard.type("keys")
    page.keyboard.press("Enter")  # submits the run form
    page.wait_for_selector(".result:has-text('KEYS')")


def test_templates_are_edited_and_saved(session):
    s = session()
    s.sign_in("/templates")
    page = s.page
    page.wait_for_selector("#tpl-js")
    text = page.input_value("#tpl-js") + "\n// edited in the UI\n"
    page.fill("#tpl-js", text)
    page.locator("form", has=page.locator("#tpl-js")).locator("button").click()
    page.wait_for_selector("#toast >> text=template is saved")
    saved = s.api("GET", "/api/templates/js")
    assert saved["custom"] and saved["content"].endswith("// edited in the UI\n"), saved
