#!/usr/bin/env python3
"""Drives the operator console in a real browser (Debian's chromium through chromedriver and
python3-selenium, headless) for tests/e2e/e2e_console.sh. One step per call, so the shell test
does the SMTP parts between them:

  console_browser.py URL TOKEN SHOTS sign-in            wrong token refused, then signed in
  console_browser.py URL TOKEN SHOTS release KEY REASON the key is listed with its cause and
                                                         released through the page, with the
                                                         keyboard alone (sign-in included)
  console_browser.py URL TOKEN SHOTS alerts KIND SUBJECT an alert of KIND about SUBJECT is listed
                                                         (filtered by kind) and acknowledged
  console_browser.py URL TOKEN SHOTS pools ADDRESS LISTED ZONE CODE USER
                                                         LISTED shown listed on ZONE with CODE,
                                                         used by USER; ADDRESS drained, undrained
  console_browser.py URL TOKEN SHOTS trace RCPT TEXT POOL RULE
                                                         the message to RCPT found by a search:
                                                         its sender and Subject shown with TEXT
                                                         as text, its detail naming POOL and
                                                         RULE with its description; no script ran
  console_browser.py URL TOKEN SHOTS rules BAD ERROR GOOD BAD (a rule file) refused with ERROR
                                                         shown, the active version kept; GOOD
                                                         uploaded and active; rolled back
  console_browser.py URL TOKEN SHOTS sender KEY          KEY looked up: its messages counted, its
                                                         limits listed; an unknown key said so
  console_browser.py URL TOKEN SHOTS phone               at 390x844 (a phone, emulated): every
                                                         page opens from the menu and nothing is
                                                         wider than the screen
  console_browser.py URL TOKEN SHOTS overview KIND      the overview: the chart holds the messages
                                                         sent (allowed and refused > 0), each
                                                         worker's load, the pools, an alert of
                                                         KIND; a live update arrives

Prints what it saw; exits 1 with the reason when the page did not do what it should. SHOTS is a
folder for the screenshots (one PNG per step)."""
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
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
        wait.until(ec.visibility_of_element_located((By.ID, "overview-title")))
    except TimeoutException:
        fail(driver, shots, "sign-in", f"the right token did not open the console ({driver.current_url})")
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies.get("smtpgw_session")
    if session is None or not session.get("httpOnly") or session.get("sameSite") != "Strict":
        fail(driver, shots, "sign-in", f"the session cookie is not HttpOnly and SameSite=Strict: {session}")
    print("signed in: the console opened; the session cookie is HttpOnly, SameSite=Strict")


def press(driver, keys):
    ActionChains(driver).send_keys(keys).perform()


def tab_to(driver, shots, step, what, predicate, limit=80):
    """Presses Tab until the focused element satisfies `predicate`; fails after `limit`."""
    for _ in range(limit):
        element = driver.switch_to.active_element
        try:
            if predicate(element):
                return element
        except StaleElementReferenceException:
            pass
        press(driver, Keys.TAB)
    fail(driver, shots, step, f"Tab never reached {what} ({limit} presses)")


def step_release(driver, url, token, shots, key, reason):
    # The keyboard alone: the sign-in field has the focus, the menu and the Release button are
    # reached with Tab, Enter acts, the reason field takes the focus.
    driver.get(url + "/ui/")
    wait = WebDriverWait(driver, 10)
    try:
        wait.until(ec.url_contains("/ui/sign-in.html"))
        wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "token")
    except TimeoutException:
        fail(driver, shots, "release", "the sign-in page does not put the focus on the token field")
    press(driver, token + Keys.ENTER)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "overview-title")))
    except TimeoutException:
        fail(driver, shots, "release", "signing in with the keyboard did not open the console")
    tab_to(driver, shots, "release", "the menu's Restricted senders",
           lambda e: e.get_attribute("href") is not None and e.get_attribute("href").endswith("#restrictions"))
    press(driver, Keys.ENTER)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "restrictions-title")))
    except TimeoutException:
        fail(driver, shots, "release", "Enter on the menu did not open the restricted senders")

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
    tab_to(driver, shots, "release", f"the Release button of {key}",
           lambda e: e.tag_name == "button" and e.text == "Release"
           and e.find_element(By.XPATH, "./ancestor::tr/td[1]").text == key)
    press(driver, Keys.ENTER)
    try:
        wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "release-reason")
    except TimeoutException:
        fail(driver, shots, "release", "Release did not put the focus on the reason field")
    # An empty reason is not sent: the field is required.
    press(driver, Keys.ENTER)
    time.sleep(0.5)
    if row_of_key(driver) is False:
        fail(driver, shots, "release", "released without a reason")
    press(driver, reason + Keys.ENTER)
    try:
        wait.until(ec.text_to_be_present_in_element((By.ID, "restrictions-status"), f"Released {key}"))
        wait.until(lambda d: row_of_key(d) is False)
    except TimeoutException:
        fail(driver, shots, "release", "the page did not confirm the release: "
             + driver.find_element(By.ID, "restrictions-status").text)
    # The audit trail: the release, with its reason, on top.
    try:
        wait.until(lambda d: any(r and r[0] == key and r[6] == reason for r in rows_of(d, "history-rows")))
    except TimeoutException:
        fail(driver, shots, "release", f"the audit trail does not show the release: {rows_of(driver, 'history-rows')}")
    driver.save_screenshot(f"{shots}/released.png")
    print(f"released through the page: {driver.find_element(By.ID, 'restrictions-status').text}; "
          f"audit trail: {rows_of(driver, 'history-rows')[0]}")


def rows_of(driver, tbody_id):
    """The table's rows as lists of cell texts; [] while the page is re-drawing it."""
    try:
        return [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
                for r in driver.find_elements(By.CSS_SELECTOR, f"#{tbody_id} tr")]
    except StaleElementReferenceException:
        return []


def open_page(driver, url, token, shots, step, page):
    sign_in(driver, url, token, shots, step)
    wait = WebDriverWait(driver, 10)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "overview-title")))
    except TimeoutException:
        fail(driver, shots, step, "the console did not open")
    driver.find_element(By.CSS_SELECTOR, f"header nav a[href='#{page}']").click()
    try:
        wait.until(ec.visibility_of_element_located((By.ID, f"{page}-title")))
    except TimeoutException:
        fail(driver, shots, step, f"the {page} page did not open")
    return wait


def step_alerts(driver, url, token, shots, kind, subject):
    wait = open_page(driver, url, token, shots, "alerts", "alerts")
    try:
        wait.until(lambda d: any(r[1] == kind for r in rows_of(d, "alerts-rows")))
    except TimeoutException:
        fail(driver, shots, "alerts", f"no {kind} alert listed: {rows_of(driver, 'alerts-rows')}")
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element(By.CSS_SELECTOR, "#alerts-filter select[name=kind]")).select_by_value(kind)
    try:
        wait.until(lambda d: rows_of(d, "alerts-rows")
                   and all(r[1] == kind for r in rows_of(d, "alerts-rows")))
    except TimeoutException:
        fail(driver, shots, "alerts", f"filtering by {kind} left others: {rows_of(driver, 'alerts-rows')}")
    rows = driver.find_elements(By.CSS_SELECTOR, "#alerts-rows tr")
    target = next((r for r in rows if subject in r.find_elements(By.TAG_NAME, "td")[3].text), None)
    if target is None:
        fail(driver, shots, "alerts", f"no {kind} alert about {subject}")
    print(f"listed: {[c.text for c in target.find_elements(By.TAG_NAME, 'td')][:4]}")
    driver.save_screenshot(f"{shots}/alerts.png")
    target.find_element(By.TAG_NAME, "button").click()
    try:
        wait.until(ec.text_to_be_present_in_element((By.ID, "alerts-status"), "Acknowledged alert"))
    except TimeoutException:
        fail(driver, shots, "alerts", "the acknowledgement was not confirmed: "
             + driver.find_element(By.ID, "alerts-status").text)
    print(driver.find_element(By.ID, "alerts-status").text)


def step_pools(driver, url, token, shots, address, listed, zone, code, user):
    wait = open_page(driver, url, token, shots, "pools", "pools")

    def row_of(a):
        return next((r for r in rows_of(driver, "addresses-rows") if r and r[0] == a), None)

    try:
        wait.until(lambda d: row_of(listed) is not None and row_of(listed)[2] == "listed")
    except TimeoutException:
        fail(driver, shots, "pools", f"{listed} is not shown listed: {row_of(listed)}")
    row = row_of(listed)
    if f"{zone}: listed {code}" not in row[3]:
        fail(driver, shots, "pools", f"{listed}: its blocklists do not say '{zone}: listed {code}': {row[3]!r}")
    if user not in row[4]:
        fail(driver, shots, "pools", f"{listed}: not shown as used by {user}: {row[4]!r}")
    print(f"{listed}: {row[2]}; blocklists {row[3]!r}; used by {row[4]!r}")
    driver.save_screenshot(f"{shots}/pools-listed.png")

    def state(d):
        for r in rows_of(d, "addresses-rows"):
            if r and r[0] == address:
                return r[2]
        return None

    def click_and_wait(want):
        driver.find_element(By.CSS_SELECTOR, f"#addresses-rows tr[data-address='{address}'] button").click()
        try:
            wait.until(lambda d: state(d) == want)
        except TimeoutException:
            fail(driver, shots, "pools", f"{address} is {state(driver)}, not {want}")

    if state(driver) is None:
        try:
            wait.until(lambda d: state(d) is not None)
        except TimeoutException:
            fail(driver, shots, "pools", f"{address} is not listed")
    if state(driver) != "active":
        fail(driver, shots, "pools", f"{address} starts {state(driver)}")
    click_and_wait("draining")
    driver.save_screenshot(f"{shots}/pools.png")
    print(f"{address}: drained in the page")
    click_and_wait("active")
    print(f"{address}: undrained in the page")


def step_trace(driver, url, token, shots, recipient, text, pool, rule):
    wait = open_page(driver, url, token, shots, "trace", "trace")
    field = driver.find_element(By.CSS_SELECTOR, "#trace-search input[name=recipient]")
    field.send_keys(recipient)
    driver.find_element(By.CSS_SELECTOR, "#trace-search button[type=submit]").click()
    try:
        wait.until(lambda d: any(text in r[2] for r in rows_of(d, "trace-rows")))
    except TimeoutException:
        fail(driver, shots, "trace", f"no message to {recipient} from a sender with {text!r}: "
             f"{rows_of(driver, 'trace-rows')}")
    row = driver.find_elements(By.CSS_SELECTOR, "#trace-rows tr")[0]
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    print(f"found: {cells[:10]}")
    if text not in cells[3]:
        fail(driver, shots, "trace", f"the Subject is not shown with {text!r} as text: {cells[3]!r}")
    row.find_element(By.TAG_NAME, "button").click()
    wait.until(ec.visibility_of_element_located((By.ID, "trace-detail")))
    detail = driver.find_element(By.ID, "trace-detail").text
    if f"Pool\n{pool}" not in detail and f"Pool {pool}" not in detail:
        fail(driver, shots, "trace", f"the detail does not name pool {pool}: {detail!r}")
    hits = rows_of(driver, "trace-rules")
    hit = next((r for r in hits if r[0] == rule), None)
    if hit is None or not hit[2] or hit[2].startswith("(no longer"):
        fail(driver, shots, "trace", f"the detail does not list {rule} with its description: {hits}")
    print(f"rules hit: {hits}")
    driver.save_screenshot(f"{shots}/trace.png")
    # Mail's text is text: no element came from it, and no script ran.
    if driver.find_elements(By.CSS_SELECTOR, "main img, main svg, main script:not([src])"):
        fail(driver, shots, "trace", "an element from the message's text was put into the page")
    try:
        text = driver.switch_to.alert.text
        fail(driver, shots, "trace", f"a script from the message ran: alert {text!r}")
    except NoAlertPresentException:
        pass
    print("the sender is shown as text; no element or script came from it")


def step_rules(driver, url, token, shots, bad, error, good):
    wait = open_page(driver, url, token, shots, "rules", "rules")

    def field(name):
        try:
            return driver.find_element(By.CSS_SELECTOR, f"#rules-active dd[data-field='{name}']").text
        except Exception:  # drawn again meanwhile
            return ""

    try:
        wait.until(lambda d: field("Version") != "")
    except TimeoutException:
        fail(driver, shots, "rules", "the active version is not shown")
    before = field("Version")

    def upload(path):
        driver.find_element(By.ID, "rules-files").send_keys(path)
        driver.find_element(By.CSS_SELECTOR, "#rules-upload button[type=submit]").click()

    upload(bad)
    try:
        wait.until(ec.text_to_be_present_in_element((By.ID, "rules-status"), "refused"))
        wait.until(ec.visibility_of_element_located((By.ID, "rules-errors")))
    except TimeoutException:
        fail(driver, shots, "rules", "a rule file that does not compile was not refused: "
             + driver.find_element(By.ID, "rules-status").text)
    shown = driver.find_element(By.ID, "rules-errors").text
    if error not in shown:
        fail(driver, shots, "rules", f"the errors do not say {error!r}: {shown!r}")
    if field("Version") != before:
        fail(driver, shots, "rules", f"the active version changed from {before} to {field('Version')}")
    print(f"refused: {driver.find_element(By.ID, 'rules-status').text} {shown.splitlines()[1]!r}; "
          f"active version still {before}")
    driver.save_screenshot(f"{shots}/rules-refused.png")
    driver.find_element(By.ID, "rules-files").clear()
    upload(good)
    try:
        wait.until(ec.text_to_be_present_in_element((By.ID, "rules-status"), "is active"))
        wait.until(lambda d: field("Version") not in ("", before))
    except TimeoutException:
        fail(driver, shots, "rules", "the good rule file was not activated: "
             + driver.find_element(By.ID, "rules-status").text)
    print(f"uploaded: {driver.find_element(By.ID, 'rules-status').text}")
    driver.find_element(By.ID, "rules-rollback").click()
    try:
        wait.until(lambda d: field("Version") == before)
    except TimeoutException:
        fail(driver, shots, "rules", f"roll back left version {field('Version')}, not {before}: "
             + driver.find_element(By.ID, "rules-status").text)
    print(f"rolled back: {driver.find_element(By.ID, 'rules-status').text}")


def step_sender(driver, url, token, shots, key):
    wait = open_page(driver, url, token, shots, "sender", "senders")

    def look(k):
        field = driver.find_element(By.CSS_SELECTOR, "#senders-search input[name=key]")
        field.clear()
        field.send_keys(k + Keys.ENTER)  # the keyboard alone submits

    look("nobody@inside.test")
    try:
        wait.until(ec.text_to_be_present_in_element((By.ID, "senders-status"), "sent nothing"))
    except TimeoutException:
        fail(driver, shots, "sender", "an unknown key: " + driver.find_element(By.ID, "senders-status").text)
    look(key)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "senders-result")))
    except TimeoutException:
        fail(driver, shots, "sender", f"{key} not shown: " + driver.find_element(By.ID, "senders-status").text)
    counters = {r[0]: r for r in rows_of(driver, "senders-counters")}
    limits = {r[0]: r for r in rows_of(driver, "senders-limits")}
    if "messages" not in counters or int(counters["messages"][3]) < 1:
        fail(driver, shots, "sender", f"{key}: no message counted over 24 hours: {counters.get('messages')}")
    if "sender_external_recipients_per_hour" not in limits:
        fail(driver, shots, "sender", f"{key}: the sender limits are not listed: {list(limits)}")
    facts = driver.find_element(By.ID, "senders-facts").text
    print(f"{key}: {facts.splitlines()[2:4]}; messages {counters['messages'][1:]}; "
          f"{len(limits)} limits, external recipients/hour {limits['sender_external_recipients_per_hour'][1:4]}")
    driver.save_screenshot(f"{shots}/sender.png")


def step_phone(driver, url, token, shots):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    sign_in(driver, url, token, shots, "phone")
    wait = WebDriverWait(driver, 10)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "overview-title")))
    except TimeoutException:
        fail(driver, shots, "phone", "the console did not open at 390x844")
    width = driver.execute_script("return window.innerWidth")
    if width != 390:
        fail(driver, shots, "phone", f"the emulated screen is {width} px wide, not 390")
    pages = [a.get_attribute("href").split("#")[1]
             for a in driver.find_elements(By.CSS_SELECTOR, "header nav a")]
    for page in pages:
        driver.find_element(By.CSS_SELECTOR, f"header nav a[href='#{page}']").click()
        try:
            wait.until(ec.visibility_of_element_located((By.ID, f"{page}-title")))
        except TimeoutException:
            fail(driver, shots, "phone", f"the {page} page did not open")
        time.sleep(0.5)  # its data drawn
        wide = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 1:
            culprits = driver.execute_script(
                "return [...document.querySelectorAll('main *')].filter((e) => e.offsetParent"
                " && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
                ".slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)")
            fail(driver, shots, "phone", f"the {page} page is {wide} px wider than the screen: {culprits}")
        if page in ("overview", "restrictions", "trace"):
            driver.save_screenshot(f"{shots}/phone-{page}.png")
    print(f"390x844: {len(pages)} pages ({', '.join(pages)}) open from the menu, none wider than the screen")


def step_overview(driver, url, token, shots, kind):
    sign_in(driver, url, token, shots, "overview")
    wait = WebDriverWait(driver, 15)
    try:
        wait.until(ec.visibility_of_element_located((By.ID, "overview-title")))
    except TimeoutException:
        fail(driver, shots, "overview", "the console did not open on the overview")

    def series(label):
        """The action chart's values for one series (Chart.js's own data), [] before it is drawn."""
        return driver.execute_script(
            "const c = Chart.getChart(document.getElementById('overview-actions'));"
            "const d = c && c.data.datasets.find((s) => s.label === arguments[0]);"
            "return d ? d.data : [];", label)

    try:
        wait.until(lambda d: any(v > 0 for v in series("allowed")) and any(v > 0 for v in series("refused")))
    except TimeoutException:
        fail(driver, shots, "overview", f"the chart shows no message allowed and refused: "
             f"allowed {series('allowed')[-20:]}, refused {series('refused')[-20:]}")
    points = len(series("allowed"))
    try:  # the workers' load needs two stats events: the stream is live
        wait.until(lambda d: rows_of(d, "overview-workers") and all(r[1].endswith("%") for r in rows_of(d, "overview-workers")))
    except TimeoutException:
        fail(driver, shots, "overview", f"no worker load shown: {rows_of(driver, 'overview-workers')}")
    try:
        wait.until(lambda d: len(series("allowed")) > points)
    except TimeoutException:
        fail(driver, shots, "overview", f"no live sample added to the chart ({points} points)")
    # The tables are drawn again each second: read them until they hold what is expected.
    try:
        wait.until(lambda d: any(r[0] == "normal" and int(r[1]) > 0 for r in rows_of(d, "overview-pools")))
    except TimeoutException:
        fail(driver, shots, "overview", f"the pools table has no active normal address: {rows_of(driver, 'overview-pools')}")
    pools = rows_of(driver, "overview-pools")
    try:
        wait.until(lambda d: any(r[1] == kind for r in rows_of(d, "overview-alerts")))
    except TimeoutException:
        fail(driver, shots, "overview", f"no {kind} among the last alerts: {rows_of(driver, 'overview-alerts')}")
    figures = driver.find_element(By.ID, "overview-figures").text
    if "Gbit/s in" not in figures:
        fail(driver, shots, "overview", f"no Gbit/s figure: {figures!r}")
    print(f"chart: {len(series('allowed'))} points, {sum(1 for v in series('allowed') if v > 0)} with messages allowed; "
          f"workers {rows_of(driver, 'overview-workers')}; pools {pools}")
    driver.save_screenshot(f"{shots}/overview.png")


def main():
    url, token, shots, step = sys.argv[1:5]
    driver = browser()
    try:
        if step == "sign-in":
            step_sign_in(driver, url, token, shots)
        elif step == "release":
            step_release(driver, url, token, shots, sys.argv[5], sys.argv[6])
        elif step == "alerts":
            step_alerts(driver, url, token, shots, sys.argv[5], sys.argv[6])
        elif step == "pools":
            step_pools(driver, url, token, shots, *sys.argv[5:10])
        elif step == "trace":
            step_trace(driver, url, token, shots, *sys.argv[5:9])
        elif step == "rules":
            step_rules(driver, url, token, shots, *sys.argv[5:8])
        elif step == "sender":
            step_sender(driver, url, token, shots, sys.argv[5])
        elif step == "phone":
            step_phone(driver, url, token, shots)
        elif step == "overview":
            step_overview(driver, url, token, shots, sys.argv[5])
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
