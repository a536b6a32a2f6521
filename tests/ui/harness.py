"""What every browser check shares: a browser context that records what would fail a test
(console and page errors, dialogs, server errors, requests to another host), signing in, API
calls from the test itself, screenshots, and a deadline-bounded wait."""
import os
import re
import time
from urllib.parse import urlparse

# Refusals the UI asks for on purpose (a field error, a wrong key) are logged by the browser
# as failed loads; they are answers the page handles, not errors of the page.
EXPECTED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of (400|401|403|409|422)")


class Session:
    """One browser context and page, with everything that would make a test fail recorded."""

    def __init__(self, browser, base, key, width=1280, height=900, scheme="light"):
        self.base, self.key = base, key
        self.context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        self.scheme = scheme
        self.context.set_default_timeout(15000)
        self.page = self.context.new_page()
        self.problems = []
        # Chromium notes every 4xx answer in the console; the UI asks for some on purpose (a
        # field error from the server, a refused key). They are kept apart, so a check can see
        # that a page did without them.
        self.refusals = []
        host = urlparse(base).netloc

        def on_console(message):
            if message.type != "error":
                return
            if EXPECTED_REFUSAL.search(message.text):
                self.refusals.append(message.text)
            else:
                self.problems.append(f"console error: {message.text}")

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

        def on_request(request):
            url = urlparse(request.url)
            if url.scheme not in ("data", "blob") and url.netloc != host:
                self.problems.append(f"request to another host: {request.url}")

        def on_response(response):
            if response.status >= 500:
                self.problems.append(f"server error {response.status}: {response.url}")

        self.page.on("request", on_request)
        self.page.on("response", on_response)

    def go(self, hash_path):
        self.page.goto(f"{self.base}/#{hash_path}")

    def sign_in(self, hash_path="/"):
        self.go(hash_path)
        self.page.fill("#api-key", self.key)
        self.page.click("form button[type=submit]")
        self.page.wait_for_selector("#api-key", state="detached")

    def api(self, method, path, body=None):
        """Calls the API from the test (not the page), with the key."""
        response = self.context.request.fetch(f"{self.base}{path}", method=method,
                                              headers={"X-API-Key": self.key}, data=body)
        assert response.ok, f"{method} {path}: {response.status} {response.text()}"
        return response.json()

    def script_id(self, path):
        items = self.api("GET", "/api/scripts?page_size=500")["items"]
        return next(s["id"] for s in items if s["path"] == path)

    def shot(self, name):
        folder = os.environ.get("SG_UI_SHOTS")
        if folder:
            os.makedirs(folder, exist_ok=True)
            width = self.page.viewport_size["width"]
            suffix = "-dark" if self.scheme == "dark" else ""
            self.page.screenshot(path=os.path.join(folder, f"{name}-{width}{suffix}.png"), full_page=True)

    def close(self):
        self.context.close()


def wait_until(condition, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
