#!/usr/bin/env python3
"""Drives the operator console in a real browser (Debian's chromium through chromedriver and
python3-selenium, headless) for tests/e2e/e2e_console.sh. One step per call, so the shell test
does the SMTP parts between them:

  console_browser.py URL TOKEN SHOTS sign-in            wrong token refused, then signed in
  console_browser.py URL TOKEN SHOTS release KEY REASON the key is listed with its cause and
                                                         released through the page

Prints what it saw; exits 1 with the reason when the page did not do what it should. SHOTS is a
folder for the screenshots (one PNG per step)."""
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def fail(driver, shots, step, why):
    driver.save_screenshot(f"{shots}/{step}-failed.png")
    print(f"console_browser: {step}: {why}", file=sys.stderr)
    sys.exit(1)


def sign_in(driver, url, token, shots, step):
    driver.get(url + "/ui/")
    wait = WebDriverWait(driver, 10)
    try:
        wait.until(ec.url_contains("/ui/sign-in.html"))
    except TimeoutException:
        fail(driver, shots, step, f"/ui/ without a session did not lead to the sign-in page ({driver.current_url})")
    field = wait.until(ec.element_to_be_clickable((By.ID, "token")))
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()


def step_sign_in(driver, url, token, shots):
    sign_in(driver, url, token + "-wrong", shots, "sign-in")
    wait = WebDriverWait(driver, 10)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
    except TimeoutException:
        fail(driver, shots, "sign-in", "a wrong token showed no error")
    said = driver.find_element(By.ID, "error").text
    if "Wrong token" not in said or "/ui/sign-in.html" not in driver.current_url:
        fail(driver, shots, "sign-in", f"a wrong token: page says {said!r} at {driver.current_url}")
    print(f"wrong token: the page says {said!r}")
    driver.save_screenshot(f"{shots}/sign-in-refused.png")
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "restrictions-title")))
    except TimeoutException:
        fail(driver, shots, "sign-in", f"the right token did not open the console ({driver.current_url})")
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies.get("smtpgw_session")
    if session is None or not session.get("httpOnly") or session.get("sameSite") != "Strict":
        fail(driver, shots, "sign-in", f"the session cookie is not HttpOnly and SameSite=Strict: {session}")
    print("signed in: the console opened; the session cookie is HttpOnly, SameSite=Strict")


def step_release(driver, url, token, shots, key, reason):
    sign_in(driver, url, token, shots, "release")
    wait = WebDriverWait(driver, 10)

    def row_of_key(d):
        for row in d.find_elements(By.CSS_SELECTOR, "#restrictions-rows tr"):
            cells = row.find_elements(By.TAG_NAME, "td")
            if cells and cells[0].text == key:
                return row
        return False

    try:
        row = wait.until(row_of_key)
    except TimeoutException:
        fail(driver, shots, "release", f"{key} is not listed as restricted")
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    print(f"listed: {cells[:6]}")
    if not cells[2]:
        fail(driver, shots, "release", f"{key} is listed without its cause: {cells}")
    driver.save_screenshot(f"{shots}/restricted.png")
    row.find_element(By.TAG_NAME, "button").click()
    reason_field = wait.until(ec.element_to_be_clickable((By.ID, "release-reason")))
    # An empty reason is not sent: the field is required.
    driver.find_element(By.CSS_SELECTOR, "#release button[type=submit]").click()
    time.sleep(0.5)
    if row_of_key(driver) is False:
        fail(driver, shots, "release", "released without a reason")
    reason_field.send_keys(reason)
    driver.find_element(By.CSS_SELECTOR, "#release button[type=submit]").click()
    try:
        wait.until(ec.text_to_be_present_in_element((By.ID, "restrictions-status"), f"Released {key}"))
        wait.until(lambda d: row_of_key(d) is False)
    except TimeoutException:
        fail(driver, shots, "release", "the page did not confirm the release: "
             + driver.find_element(By.ID, "restrictions-status").text)
    driver.save_screenshot(f"{shots}/released.png")
    print(f"released through the page: {driver.find_element(By.ID, 'restrictions-status').text}")


def main():
    url, token, shots, step = sys.argv[1:5]
    driver = browser()
    try:
        if step == "sign-in":
            step_sign_in(driver, url, token, shots)
        elif step == "release":
            step_release(driver, url, token, shots, sys.argv[5], sys.argv[6])
        else:
            sys.exit(f"console_browser: unknown step {step}")
        # A refused sign-in's 401 is logged as a failed load; anything else severe (a script
        # error, a Content-Security-Policy violation) fails the step.
        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"
                and "Failed to load resource" not in e.get("message", "")]
        if logs:
            fail(driver, shots, step, f"the browser logged errors: {logs}")
    finally:
        driver.quit()


main()
