"""losslab serve in a real headless Chromium (Selenium with Debian's chromium and chromium-driver): a learner signs
in, opens an exercise, writes a solution, submits and sees PASS; submits a wrong one and sees the hint; the teacher
sees both in the gradebook; another learner cannot open them.

Set ``LOSSLAB_SCREENSHOTS=DIR`` to keep the pages' screenshots in DIR (the README's come from here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="losslab serve needs the serve extra")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (the browser extra)")

from test_serve import SOLUTION, free_port, start_server, stop_server  # noqa: E402

from losslab.serve.cli import add_students, create_class  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver packages (apt-get install chromium chromium-driver)",
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    db = str(folder / "class.db")
    teacher, tcode = create_class(db, "ml101")
    roster = folder / "roster.csv"
    roster.write_text("student_id,name\nalice,Alice Liddell\nbob,Bob Marley\n", encoding="utf-8")
    codes = dict(add_students(db, "ml101", str(roster)))
    codes[teacher] = tcode
    port = free_port()
    proc = start_server(db, port, "--graders", "2")
    yield f"http://127.0.0.1:{port}", codes
    stop_server(proc)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    folder = os.environ.get("LOSSLAB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def sign_in(driver, base: str, login: str, code: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    driver.find_element(By.ID, "student_id").send_keys(login)
    driver.find_element(By.ID, "code").send_keys(code)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "who").text == login)


def wait_for(driver, condition, seconds: float = 90):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(condition)


def verdict(driver) -> str:
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    def done(d):
        try:
            return d.find_element(By.ID, "verdict").text
        except NoSuchElementException:
            return False

    return wait_for(driver, done)


def test_learner_submits_teacher_grades_stranger_is_refused(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, codes = server
    sign_in(browser, base, "alice", codes["alice"])
    browser.find_element(By.ID, "ex-loss-forward").click()
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".CodeMirror"))
    assert "SoftmaxWithLoss.forward(x, t)" in browser.find_element(By.ID, "statement").text
    assert browser.execute_script("return losslabEditor.getValue()").count("########## Begin ##########") == 2
    # the solution goes into the editor as a paste does, through CodeMirror's own input
    browser.execute_script("losslabEditor.setValue(arguments[0]); losslabEditor.focus()", SOLUTION)
    shot(browser, "serve-exercise.png")
    browser.find_element(By.ID, "submit").click()
    text = verdict(browser)
    assert text.startswith("PASS: 11 of 11 checks"), text
    shot(browser, "serve-pass.png")
    good = browser.current_url

    # back to the exercise: the editor holds the last submission; type a slip: delete the 0.5 of MSE
    browser.find_element(By.LINK_TEXT, "loss-forward").click()
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".CodeMirror"))
    browser.execute_script("""
        var cm = losslabEditor, text = cm.getValue(), at = text.lastIndexOf('0.5 * ');
        cm.focus(); cm.setCursor(cm.posFromIndex(at));""")
    area = browser.find_element(By.CSS_SELECTOR, ".CodeMirror textarea")
    area.send_keys(Keys.DELETE * len("0.5 * "))
    area.send_keys("1.0 * ")
    assert "loss = 1.0 * np.sum((y - t) ** 2)" in browser.execute_script("return losslabEditor.getValue()")
    browser.find_element(By.ID, "submit").click()
    text = verdict(browser)
    assert text.startswith("FAIL:"), text
    hints = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".hint")]
    assert any("Likely mistake: dropped the 0.5" in h for h in hints), hints
    shot(browser, "serve-hint.png")
    wrong = browser.current_url

    browser.find_element(By.LINK_TEXT, "My submissions").click()
    rows = browser.find_element(By.ID, "history").text
    assert good.rsplit("/", 1)[1] in rows and wrong.rsplit("/", 1)[1] in rows

    # the teacher sees both in the gradebook and opens the wrong one
    browser.delete_all_cookies()
    sign_in(browser, base, "teacher@ml101", codes["teacher@ml101"])
    book = browser.find_element(By.ID, "gradebook")
    alice_row = [r for r in book.find_elements(By.TAG_NAME, "tr") if r.text.startswith("alice")][0]
    assert "11/11" in alice_row.text and "2 tries" in alice_row.text
    shot(browser, "serve-gradebook.png")
    alice_row.find_element(By.CSS_SELECTOR, "a.last").click()
    assert browser.find_element(By.ID, "owner").text == "alice"
    assert "FAIL" in browser.find_element(By.ID, "verdict").text

    # another learner gets "not found" for alice's submissions, and no teacher page
    browser.delete_all_cookies()
    sign_in(browser, base, "bob", codes["bob"])
    for url in (good, wrong):
        browser.get(url)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
        assert "SoftmaxWithLoss" not in browser.page_source
    browser.get(base + "/teacher")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not allowed"
