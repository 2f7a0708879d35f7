"""Headless Chromium for the slides' PDF handouts and browser test.

Playwright drives the Chromium or Chrome already on the machine (Debian's
`chromium` package in CI); its own browser download is never used, so all of
this works offline.
"""

import os
import shutil
import sys
from contextlib import contextmanager

CANDIDATES = ["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
NO_CHROMIUM = "no Chromium or Chrome found: install Debian's `chromium` package (or set $CHROMIUM to a browser)"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def find_chromium():
    for name in [os.environ.get("CHROMIUM", "")] + CANDIDATES:
        if name and (path := shutil.which(name)):
            return path
    return None


@contextmanager
def chromium():
    path = find_chromium()
    if path is None:
        raise RuntimeError(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


if __name__ == "__main__":  # `make need-chromium`: say which browser, or stop with one line
    path = find_chromium()
    if path is None:
        sys.exit(f"make: {NO_CHROMIUM}")
    print(f"browser: {path}")
