"""Headless Chromium through selenium (Debian's chromium + chromium-driver): open a page, read it, screenshot it.

    python -m tests.browser PAGE.html SHOT.png          # the README's report screenshot (make screenshot)
    python -m tests.browser --listen TEST/ SHOT.png     # the listening test's first trial, as a listener sees it
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium")


def chromium(width: int = 1100, height: int = 1400):
    """A headless Chromium WebDriver (the caller quits it)."""
    from selenium import webdriver  # lazy: only the browser tests need selenium
    from selenium.webdriver.chrome.service import Service  # lazy: as above

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def screenshot(page: Path, png: Path) -> Path:
    """A full-page PNG of ``page`` (its whole height, up to 6000 px)."""
    driver = chromium()
    try:
        driver.get(Path(page).resolve().as_uri())
        height = min(6000, int(driver.execute_script("return document.body.scrollHeight")) + 40)
        driver.set_window_size(1100, height)
        driver.save_screenshot(str(png))
        return png
    finally:
        driver.quit()


def listening_screenshot(test: Path, png: Path) -> Path:
    """The listening test in ``test`` served here, its first trial as listener "demo" sees it."""
    from selenium.webdriver.common.by import By  # lazy: as in chromium()

    from anchormix.listen.server import serve_in_thread

    server, base = serve_in_thread(test)
    driver = chromium(1000, 640)
    try:
        driver.get(base + "/")
        driver.find_element(By.ID, "listener").send_keys("demo")
        driver.find_element(By.ID, "begin").click()
        driver.implicitly_wait(5)
        driver.find_element(By.ID, "rate-A")
        driver.save_screenshot(str(png))
        return png
    finally:
        driver.quit()
        server.shutdown()


if __name__ == "__main__":
    if sys.argv[1] == "--listen":
        print(listening_screenshot(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
