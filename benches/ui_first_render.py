#!/usr/bin/env python3
"""Time to first render of the web UI's scripts page: from navigation start to the moment the
script table is in the document, measured in the page (a MutationObserver), median of 5 loads
in headless chromium. Usage: ui_first_render.py BASE_URL"""
import statistics
import sys

from playwright.sync_api import sync_playwright

WATCH = """
new MutationObserver((_, observer) => {
  if (document.querySelector('#script-rows table')) {
    window.__firstRender = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def main(base):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        times, rows = [], 0
        for _ in range(6):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.add_init_script(WATCH)
            page.goto(f"{base}/#/")
            page.wait_for_function("window.__firstRender !== undefined", timeout=30000)
            times.append(page.evaluate("window.__firstRender"))
            rows = page.locator("#script-rows tbody tr").count()
            context.close()
        browser.close()
    warm = times[1:]  # the first load also starts the browser's own caches
    print(f"first render of the scripts page over {rows} shown rows: median {statistics.median(warm):.0f} ms, "
          f"min {min(warm):.0f} ms, max {max(warm):.0f} ms (first cold load {times[0]:.0f} ms; goal <= 500 ms)")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
