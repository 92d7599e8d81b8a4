"""Headless Chromium for the dashboard's test (Debian's chromium and chromium-driver,
driven by selenium): `make test` runs it wherever they are installed and skips it,
saying so, elsewhere; under CI=true (`.ci/run` installs them) a missing one fails."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.fixtures import on_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@contextmanager
def chromium(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium (a selenium driver), quit on leaving."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "Chromium not installed (apt-get install chromium chromium-driver)"
        if on_ci():
            pytest.fail(message + "; CI=true: .ci/run installs it", pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000",
                     f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(
        str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium", ignore_errors=True)


def wait_for(driver: Any, what: str, check: Callable[[], Any], timeout_s: float = 60) -> Any:
    """`check()`'s first truthy answer within `timeout_s`, else fail saying `what`."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def attempt(_driver: Any) -> Any:
        try:
            return check()
        except (WebDriverException, ValueError, LookupError):
            return False  # not there yet (an AssertionError ends the wait at once)

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(attempt)
    except TimeoutException:
        page = driver.find_element("tag name", "body").text
        raise AssertionError(f"{what}: not within {timeout_s} s. The page:\n{page}") from None


def cell(driver: Any, position: str, field: str) -> str:
    return str(driver.find_element(
        "css selector", f'tr[data-position="{position}"] td[data-field="{field}"]').text)


def opened(driver: Any, position: str) -> bool:
    shown = cell(driver, position, "state")
    assert shown != "failed", driver.find_element("id", "history").text  # fail at once
    return shown == "open"
