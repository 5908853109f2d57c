"""Headless Chromium, driven through its WebDriver (Debian's chromium and chromium-driver, with
Selenium from the venv), pointed at a coffer server's web UI. Nothing is downloaded: the browser
and driver are the system's, and the UI loads only from the server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_S = 15.0


def _system(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (name if Path(name).exists() else None)
        if found:
            return found
    pytest.fail(f"none of {names} is installed: run scripts/setup (Debian's chromium and chromium-driver)", pytrace=False)


class Browser:
    """One browser window on one server's UI."""

    def __init__(self, profile: Path):
        options = Options()
        options.binary_location = _system("chromium", "/usr/bin/chromium")
        for arg in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,1000",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=_system("chromedriver", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(WAIT_S)
        self.base = ""

    def quit(self) -> None:
        self.driver.quit()

    def open(self, base: str, fragment: str = "") -> None:
        self.base = base
        self.driver.get(f"{base}/ui/" + (f"#/{fragment}" if fragment else ""))

    def go(self, fragment: str) -> None:
        self.driver.get(f"{self.base}/ui/#/{fragment}")

    def find(self, css: str) -> WebElement:
        """The element once it is visible."""
        try:
            return WebDriverWait(self.driver, WAIT_S).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))
        except TimeoutException:
            pytest.fail(f"no visible {css!r} within {WAIT_S:.0f}s; the page shows:\n{self.page_text()}", pytrace=False)

    def wait_text(self, css: str, text: str) -> WebElement:
        """The element once its text contains `text`."""
        try:
            WebDriverWait(self.driver, WAIT_S).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        except TimeoutException:
            pytest.fail(f"{css!r} never showed {text!r}; the page shows:\n{self.page_text()}", pytrace=False)
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def gone(self, css: str) -> None:
        """Waits until no element matches `css`."""
        try:
            WebDriverWait(self.driver, WAIT_S).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, css)))
        except TimeoutException:
            pytest.fail(f"{css!r} still shown after {WAIT_S:.0f}s; the page shows:\n{self.page_text()}", pytrace=False)

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def choose(self, css: str, value: str) -> None:
        Select(self.find(css)).select_by_value(value)

    def press(self, label: str, within: str = "body") -> None:
        """Clicks the button labelled `label`."""
        self.find(within).find_element(By.XPATH, f".//button[normalize-space()={label!r}]").click()

    def page_text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def session_token(self) -> str | None:
        return self.driver.execute_script("return sessionStorage.getItem('coffer.token')")

    def console_errors(self) -> list[str]:
        """Console errors, Content-Security-Policy violations included."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "chromium-profile")
    yield b
    b.quit()
