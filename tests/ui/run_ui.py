#!/usr/bin/env python3
"""The web UI's browser suite: drives a running gateway in Debian's chromium through
Playwright (never `playwright install`: the system browser is launched by path).

    SG_UI_BASE=http://127.0.0.1:PORT SG_UI_KEY=KEY SG_UI_SHOTS=DIR python3 tests/ui/run_ui.py [NAME...]

The gateway must serve tests/ui/fixtures as its scripts repository and require SG_UI_KEY
(tests/api/ui.rs sets this up). Every test gets a fresh browser context and fails on a console
error, a page error, a browser dialog, a server error or a request to another host.
"""
import os
import sys
import time
import traceback

from playwright.sync_api import sync_playwright

import checks_forms
import checks_pages
import checks_runs
from harness import Session

CHROMIUM = os.environ.get("SG_UI_CHROMIUM", "/usr/bin/chromium")


def main():
    base, key = os.environ["SG_UI_BASE"].rstrip("/"), os.environ["SG_UI_KEY"]
    modules = (checks_pages, checks_forms, checks_runs)
    # In file order, module after module: later checks may rely on runs earlier ones made.
    tests = sorted(((m, n) for m in modules for n in dir(m) if n.startswith("test_")),
                   key=lambda t: (modules.index(t[0]), getattr(*t).__code__.co_firstlineno))
    wanted = sys.argv[1:]
    shots = os.environ.get("SG_UI_SHOTS")
    if shots and os.path.isdir(shots):
        for stale in (f for f in os.listdir(shots) if f.startswith("failed-")):
            os.remove(os.path.join(shots, stale))
    failed = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        for module, name in tests:
            if wanted and not any(w in name for w in wanted):
                continue
            began = time.monotonic()
            sessions = []

            def session(width=1280, height=900, scheme="light"):
                s = Session(browser, base, key, width, height, scheme)
                sessions.append(s)
                return s
            try:
                getattr(module, name)(session)
                problems = [p for s in sessions for p in s.problems]
                assert not problems, "\n".join(problems)
                print(f"PASS {name} ({time.monotonic() - began:.1f} s)", flush=True)
            except Exception:  # noqa: BLE001 - every failure is reported, then the next test runs
                failed.append(name)
                print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
                for s in sessions:
                    s.shot(f"failed-{name}")
            finally:
                for s in sessions:
                    s.close()
        browser.close()
    print(f"{len(failed)} failed: {', '.join(failed)}" if failed else "all browser checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
