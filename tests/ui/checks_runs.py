"""Runs: live output before the end, cancel, rerun and edit-and-rerun, the history's filters,
ad-hoc code from the console, and a screenshot of every page at desktop and phone width (last, so every page has data)."""
from harness import wait_until


# When the first live line reached the page, by the same clock the gateway stamps runs with.
FIRST_LINE = """
new MutationObserver(() => {
  const out = document.getElementById('live-stdout');
  if (out && out.textContent && !window.__firstLine) window.__firstLine = Date.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def test_live_output_appears_before_the_run_ends(session):
    s = session()
    s.context.add_init_script(FIRST_LINE)
    slow = s.script_id("python/slow_lines.py")
    s.sign_in(f"/scripts/{slow}")
    page = s.page
    page.fill("[data-param='count'] input", "10")
    page.fill("[data-param='delay'] input", "0.5")
    page.click("#run")
    # The run outlasts the form's wait: the page hands over to the run's own page.
    page.wait_for_url("**/#/runs/*", timeout=10000)
    run_id = int(page.url.rsplit("/", 1)[1])
    wait_until(lambda: "line 2" in page.inner_text("#live-stdout"), "live stdout")
    assert "progress" in page.inner_text("#live-stderr")
    s.shot("run-live")
    page.wait_for_selector("#rerun", timeout=20000)
    assert "success" in page.inner_text("#run-status")
    finished = s.api("GET", f"/api/runs/{run_id}")["finished_at"]
    first_line = page.evaluate("window.__firstLine")
    ended = page.evaluate("(iso) => Date.parse(iso)", finished)
    assert first_line and first_line < ended - 1000, f"the first line came at {first_line}, the run ended at {ended}"
    # Not one JSON value: the output is a download, fetched with the key.
    with page.expect_download() as download:
        page.click(".result a.download")
    with open(download.value.path(), encoding="utf-8") as saved:
        assert "line 10" in saved.read()


def test_cancel_stops_a_running_run(session):
    s = session()
    slow = s.script_id("python/slow_lines.py")
    s.sign_in(f"/scripts/{slow}")
    page = s.page
    page.fill("[data-param='count'] input", "100")
    page.click("#run-bg")
    page.click(".outcome a")
    page.wait_for_selector("#cancel")
    wait_until(lambda: "line 1" in page.inner_text("#live-stdout"), "the run started")
    page.click("#cancel")
    page.wait_for_selector("#run-status:has-text('cancelled')", timeout=20000)
    assert page.locator("#rerun").count() == 1


def test_rerun_and_edit_and_rerun(session):
    s = session()
    shout = s.script_id("js/shout.js")
    s.sign_in(f"/scripts/{shout}")
    page = s.page
    page.fill("[data-param='word'] input", "first")
    page.click("#run")
    page.wait_for_selector(".result")
    page.click(".outcome a")
    page.wait_for_selector("#rerun")
    first = page.url
    page.click("#rerun")
    page.wait_for_url(lambda url: url != first)
    page.wait_for_selector("#rerun")
    assert "FIRST" in page.inner_text(".result"), "the same parameters"
    page.click("#edit-rerun")
    page.wait_for_selector("#run-form")
    assert page.input_value("[data-param='word'] input") == "first", "the form is pre-filled"
    page.fill("[data-param='word'] input", "second")
    page.click("#run")
    page.wait_for_selector(".result:has-text('SECOND')")


def test_history_filters_by_script_status_and_time(session):
    s = session()
    s.sign_in("/runs")
    page = s.page
    page.wait_for_selector("#run-rows table")
    slow = s.script_id("python/slow_lines.py")
    page.select_option("#f-script", str(slow))
    page.click("text=Filter")
    page.wait_for_url(f"**script_id={slow}*")
    cells = page.locator("#run-rows tbody td:nth-child(2)")
    wait_until(lambda: (t := cells.all_inner_texts()) and all("slow_lines" in c for c in t), "only slow_lines runs")
    page.select_option("#f-status", "cancelled")
    page.click("text=Filter")
    page.wait_for_url("**status=cancelled*")
    statuses = page.locator("#run-rows tbody td:nth-child(3)")
    wait_until(lambda: set(statuses.all_inner_texts()) == {"cancelled"}, "only cancelled runs")
    page.fill("#f-since", "2999-01-01T00:00")
    page.click("text=Filter")
    page.wait_for_selector("text=No run matches.")
    page.click("text=Clear")
    page.wait_for_selector("#run-rows table")
    assert "Page 1 of" in page.inner_text(".pager")


CONSOLE_CODE = """import json, sys, time
print('working', file=sys.stderr, flush=True)
time.sleep(1)
open('made.txt', 'w').write(open('in.txt').read().upper())
print(json.dumps({'args': sys.argv[1:]}))
"""


def test_code_runs_from_the_console_and_opens_on_its_run_page(session):
    s = session()
    s.sign_in("/exec")
    page = s.page
    page.select_option("#exec-runtime", "python")
    page.fill("#exec-code", CONSOLE_CODE)
    page.fill("#exec-args", "alpha\nbeta")
    page.set_input_files("#exec-files", files=[{"name": "in.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    s.shot("exec")
    page.click("#exec-run")
    page.wait_for_url("**/#/runs/*", timeout=10000)
    run_id = int(page.url.rsplit("/", 1)[1])
    wait_until(lambda: "working" in page.inner_text("#live-stderr"), "live stderr of the ad-hoc run")
    page.wait_for_selector(".result:has-text('alpha')", timeout=20000)
    assert "Ad-hoc code" in page.inner_text("main")
    assert "made.txt" in page.inner_text("main"), "the file the code wrote is listed"
    run = s.api("GET", f"/api/runs/{run_id}")
    assert run["kind"] == "exec" and run["script_id"] is None, run
    assert run["params"]["code"] == CONSOLE_CODE, "the code is recorded as typed (no CRLF)"
    assert run["files"] == [{"name": "made.txt", "size": 5, "url": f"/api/runs/{run_id}/files/made.txt"}], run
    s.shot("exec-run")
    page.click("#edit-rerun")
    page.wait_for_selector("#exec-code")
    assert page.input_value("#exec-code") == CONSOLE_CODE, "the console starts from the run's code"
    assert page.input_value("#exec-args") == "alpha\nbeta"


def test_every_page_at_desktop_and_phone_width(session):
    for width, height, scheme in [(1280, 900, "light"), (380, 800, "light"), (1280, 900, "dark")]:
        s = session(width, height, scheme)
        s.go("/")
        s.page.wait_for_selector("#api-key")
        s.shot("sign-in")
        s.sign_in("/")
        every = s.script_id("python/every_type.py")
        run = s.api("GET", "/api/runs?status=success")["items"][0]["id"]
        for name, path, ready in [
            ("scripts", "/", "#script-rows table"), ("script", f"/scripts/{every}", "#run-form"),
            ("run", f"/runs/{run}", ".result"), ("runs", "/runs", "#run-rows table"),
            ("deps", "/deps", "text=Scripts with dependency files"), ("settings", "/settings", "#settings-form"),
            ("keys", "/keys", "#key-name"), ("templates", "/templates", "#tpl-js"),
            ("exec", "/exec", "#exec-code"),
        ]:
            s.go(path)
            s.page.wait_for_selector(ready)
            overflow = s.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} at {width} px scrolls sideways by {overflow} px"
            s.shot(name)
