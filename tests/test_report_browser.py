"""The HTML report opened in a real browser (headless Chromium, Debian's chromium and
chromium-driver; .ci/run installs them when absent): every table and every figure rendered.
A screenshot of the whole page is kept for the test log in outputs/test-screenshots/."""

import shutil

import pytest

from benchmark.results.report import main
from tests.conftest import ROOT

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
SCREENSHOT = ROOT / "outputs" / "test-screenshots" / "report.png"


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_html_report_renders_every_table_and_figure(sweep, tmp_path, browser):
    from selenium.webdriver.common.by import By

    cwd, _ = sweep
    main(["--records", str(cwd / "outputs" / "multirun"), "--out", str(tmp_path / "report.md")])
    browser.get((tmp_path / "report.html").as_uri())
    assert browser.title == "Benchmark report"

    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == ["Environment", "fcn", "lstm"]
    tables = browser.find_elements(By.TAG_NAME, "table")
    # environment, then 4 tables per model (ms, median ± spread, RAM, F1): a CPU sweep has no VRAM
    assert len(tables) == 1 + 2 * 4
    for table in tables:
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert table.is_displayed() and table.size["height"] > 20 and len(rows) >= 2
    ms_table = tables[1].text
    assert "eager cpu fp32" in ms_table and "onnxruntime cpu fp32" in ms_table

    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 2 * 3  # latency, speed-up, Pareto per model
    for image in images:
        decoded = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
        assert decoded and decoded > 300, image.get_attribute("alt")  # the PNG decoded, at full size
        assert image.size["width"] > 300 and image.size["height"] > 150

    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(height + 100, 16000))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    print(f"screenshot of the rendered report: {SCREENSHOT}")
