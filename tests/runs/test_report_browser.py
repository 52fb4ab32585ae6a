"""gankit report in a real browser: headless Chromium driven by Selenium, network off.

Skips where Chromium, its driver or Selenium is missing (.ci/run installs them)."""

import io
import shutil

import pytest

import gankit
from gankit.runs.report import write_run_report

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium + chromedriver")


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,1600"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_network_conditions(offline=True, latency=0, throughput=0)
    yield driver
    driver.quit()


def open_page(browser, path):
    browser.get(path.resolve().as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []  # no console errors (and no blocked fetch: CSP violations are errors)
    # Nothing was fetched: data: pictures are not resources.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_report_loads_offline_without_errors_and_is_not_blank(browser, tiny):
    from PIL import Image

    run = gankit.train(preset="digits", progress=False, **tiny)
    open_page(browser, write_run_report([run.path]))
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    lo, hi = shot.getextrema()
    assert hi - lo > 100  # text and pictures, not one colour
    assert len(shot.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50
    svg_width = browser.execute_script(
        "return document.querySelector('#curves svg').getBoundingClientRect().width")
    assert svg_width > 300  # the curves are drawn at a readable size


def test_moving_the_slider_changes_the_grid_shown(browser, tiny, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # ring8: its grids are scatter plots, which change visibly at every snapshot
    a = gankit.train(preset="ring8", progress=False, **tiny)
    b = gankit.train(preset="ring8", progress=False, **{**tiny, "seed": 1})
    open_page(browser, write_run_report([a.path, b.path], tmp_path / "two.html"))
    slider = browser.find_element(By.ID, "film-slider")
    step = lambda: browser.find_element(By.ID, "film-step").text  # noqa: E731
    srcs = lambda: [browser.find_element(By.ID, f"film-img-{i}").get_attribute("src")  # noqa: E731
                    for i in range(2)]
    assert step() == "12"
    last = srcs()
    slider.send_keys(Keys.HOME)
    assert step() == "0"
    first = srcs()
    assert first[0] != last[0] and first[1] != last[1]  # both runs' grids moved to step 0
    assert first[0] != first[1]  # two seeds: two different grids side by side
    slider.send_keys(Keys.RIGHT)
    assert step() == "6"
