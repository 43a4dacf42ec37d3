"""A real headless browser for page tests: Debian's chromium driven by its chromium-driver.

`make test` installs both (scripts/ensure_chromium.sh); a run without them skips the browser
tests with the reason rather than downloading a browser.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@contextmanager
def chromium(width: int = 1600, height: int = 900):
    """A headless chromium session (selenium WebDriver), quit at the end."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("chromium/chromium-driver are not installed (scripts/ensure_chromium.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--disable-extensions",
                "--no-first-run", "--disable-background-networking"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver, predicate, timeout: float = 20.0, what: str = "condition"):
    """WebDriverWait with a message naming what was awaited (and the page's text)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        # a live page redraws what changed: an element read mid-redraw is looked up again
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: predicate(d))
    except TimeoutException:
        body = driver.find_element("tag name", "body").text[:3000]
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; page:\n{body}") \
            from None


def click(driver, css: str, text: str | None = None, timeout: float = 10.0) -> None:
    """A real click on the first element matching `css` (and showing `text`), looked up again
    if the page redrew it meanwhile."""
    def attempt(d):
        for el in d.find_elements("css selector", css):
            if text is None or el.text == text:
                el.click()
                return True
        return False
    wait_until(driver, attempt, timeout, what=f"a clickable {css} {text or ''}")
