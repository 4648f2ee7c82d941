"""The web console (console/, served by broker-bridge at /) in a real browser: Debian's headless
Chromium driven by Selenium (python3-selenium, chromium-driver), against a real bridge, broker,
node and engine. One scenario after another, as a user would go (the order matters, so they are
steps of one test module sharing one browser and one stack):

  login with a token -> create a config object on the configs page -> create a container app
  through the wizard (a config volume mounted into it, a label selector whose live preview shows
  the node) -> watch it reach Running on the detail page -> edit an env value and see the new
  version applied -> provoke a validation error and see it at the field -> create a function app
  and see its QPS chart after calls -> the nodes pages -> switch the language (every string has
  both languages) -> delete the app from the list (the confirmation names it).

Every page is screenshotted into BUILD/console-screenshots/ (docs/console.md shows them), and the
browser's log must hold no error (a CSP violation, an exception) at the end of every step.
Runs on Docker only (CMake): the engines are covered by the other e2e tests; this one is about
the console."""
import json
import os
import shutil
import urllib.request

import pytest

import harness
from common import IMAGE, SERVE

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NODE = "east"
seen = {}  # what one step leaves for the next (versions)

PY_CODE = '''
def handler(event, context):
    return {"out": event.get("in", 0) * 2}
'''


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=[NODE], bridge_args=["--console-dir", os.path.join(ROOT, "console")],
                    edge_args=["--stats-interval", "1"])
    code, body = stack.api.post(stack.path("nodes"), {"name": NODE, "labels": {"region": "east"}})
    assert code == 201, body
    return stack


@pytest.fixture(scope="module")
def shots(t):
    d = os.path.join(t.build_dir, "console-screenshots")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


@pytest.fixture(scope="module")
def browser(stack):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Chromium and chromedriver are missing: scripts/deps.sh installs chromium "
                    "and chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER) \
        if hasattr(webdriver, "ChromeService") else None
    drv = webdriver.Chrome(options=opts, service=service) if service else \
        webdriver.Chrome(options=opts)
    b = Browser(drv, stack)
    yield b
    drv.quit()


class Browser:
    """The driver plus waits that poll the page (never sleeps) and say what they saw."""

    def __init__(self, drv, stack):
        self.d = drv
        self.stack = stack
        self.errors = []

    def go(self, hash_):
        self.d.get(f"{self.stack.url}/{hash_}")

    def find(self, testid, timeout=15):
        return self.wait(lambda: self.visible(f'[data-testid="{testid}"]'), timeout,
                         f"element data-testid={testid}")

    def present(self, testid):
        """The visible element of testid now, or None (no wait)."""
        return self.visible(f'[data-testid="{testid}"]')

    def visible(self, css):
        for el in self.d.find_elements(By.CSS_SELECTOR, css):
            try:
                if el.is_displayed():
                    return el
            except StaleElementReferenceException:
                pass
        return None

    def wait(self, fn, timeout, what):
        def check():
            try:
                return fn()
            except (StaleElementReferenceException, WebDriverException):
                return None
        try:
            return harness.poll(check, timeout, what, interval=0.2)
        except harness.PollTimeout as e:
            raise harness.PollTimeout(f"{e}; page {self.d.current_url}: "
                                      f"{self.d.find_element(By.TAG_NAME, 'main').text[:1500]!r}")

    def click(self, testid, timeout=15):
        el = self.find(testid, timeout)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()
        return el

    def type(self, testid, text, clear=True):
        el = self.find(testid)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        if clear:
            el.send_keys(Keys.CONTROL, "a")
            el.send_keys(Keys.DELETE)
        el.send_keys(text)
        return el

    def select(self, testid, value):
        Select(self.find(testid)).select_by_value(value)

    def select_when_offered(self, testid, value, what):
        """Select value in select testid once the page offers it (options come from the API)."""
        self.wait(lambda: self.d.find_elements(
            By.CSS_SELECTOR, f'[data-testid="{testid}"] option[value="{value}"]'), 15, what)
        self.select(testid, value)

    def keys(self, testid, attr):
        """The attr of each row of table testid, in order."""
        return [r.get_attribute(attr) for r in self.d.find_elements(
            By.CSS_SELECTOR, f'[data-testid="{testid}"] tbody tr[{attr}]')]

    def text(self, css):
        el = self.visible(css)
        return el.text if el else None

    def shot(self, d, name):
        self.d.save_screenshot(os.path.join(d, f"{name}.png"))

    def log_errors(self):
        """Errors the browser logged since the last call (CSP violations, exceptions, failed
        loads other than answers the test provoked on purpose)."""
        out = []
        for e in self.d.get_log("browser"):
            if e.get("level") == "SEVERE" and "the server responded with a status of 4" not in \
                    e.get("message", ""):
                out.append(e["message"])
        return out


def no_errors(b):
    errs = b.log_errors()
    assert not errs, f"the browser logged errors: {errs}"


def test_served_with_headers(stack):
    """The console's files come with their types, caching and a strict CSP."""
    with urllib.request.urlopen(f"{stack.url}/", timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and \
            "frame-ancestors 'none'" in csp, csp
        assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    with urllib.request.urlopen(f"{stack.url}/js/core.js", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/javascript")


def test_login(stack, browser, shots):
    b = browser
    b.go("#/login")
    b.type("login-token", "ferry_not-a-real-token")
    b.type("login-namespace", stack.ns)
    b.click("login-submit")
    b.wait(lambda: (b.text('[data-testid="login-error"]') or None), 10, "the login error")
    b.shot(shots, "01-login")
    with open(stack.token_file) as f:
        token = f.read().strip()
    # By keyboard: Enter in the token field signs in.
    b.type("login-token", token).send_keys(Keys.ENTER)
    b.find("apps-table")
    assert b.d.execute_script("return sessionStorage.getItem('ferry.token')") == token
    assert b.d.execute_script("return localStorage.getItem('ferry.token')") is None
    no_errors(b)


def test_config_object_page(stack, browser, shots):
    """A config object made on the configs page: the wizard's volume step picks it next."""
    b = browser
    b.go("#/configs")
    b.click("configs-create")
    b.type("f-name", "site")
    b.select("f-kind", "config")
    b.present("f-data[0].name") or b.click("add-file")
    b.type("f-data[0].name", "index.html")
    b.type("f-data[0].value", "from the console\n")
    b.shot(shots, "02-config-edit")
    b.click("config-save")
    b.wait(lambda: stack.api.get(stack.path("configs", "site"))[0] == 200, 15,
           "config site created through the page")
    b.go("#/configs")
    b.wait(lambda: b.visible('tr[data-config="site"]'), 15, "site in the configs list")
    b.shot(shots, "03-configs")
    no_errors(b)


def wizard_step(b, step):
    b.click(f"step-{step}")


def target_east(b):
    """On the targets step: select region=east, and see the live preview list the node."""
    b.present("f-selector.matchLabels[0].key") or b.click("add-match-label")
    b.type("f-selector.matchLabels[0].key", "region")
    b.type("f-selector.matchLabels[0].value", "east")
    b.wait(lambda: b.visible(f'[data-testid="target-preview"] [data-node="{NODE}"]'), 15,
           "the target preview shows the node")


def test_create_container_app_through_the_wizard(stack, browser, shots):
    b = browser
    b.go("#/apps")
    b.click("apps-create")
    b.type("f-name", "web")
    b.type("f-description", "made in the console")
    b.click("f-type-container")
    b.shot(shots, "04-wizard-basic")
    wizard_step(b, "volumes")
    b.click("add-volume")
    b.type("f-volumes[0].name", "site")
    b.select("f-volumes[0].kind", "config")
    b.select_when_offered("f-volumes[0].config.name", "site", "config site offered for the volume")
    b.shot(shots, "05-wizard-volumes")
    wizard_step(b, "services")
    b.type("f-services[0].name", "web")
    b.type("f-services[0].image", IMAGE)
    b.type("f-services[0].command", "\n".join(SERVE))
    b.present("f-services[0].env[0].name") or b.click("add-env-0")
    b.type("f-services[0].env[0].name", "GREETING")
    b.type("f-services[0].env[0].value", "v1")
    b.click("add-mount-0")
    b.select("f-services[0].volumeMounts[0].name", "site")
    b.type("f-services[0].volumeMounts[0].mountPath", "/site")
    b.click("f-services[0].volumeMounts[0].readOnly")
    b.shot(shots, "06-wizard-services")
    wizard_step(b, "targets")
    target_east(b)
    b.shot(shots, "07-wizard-targets")
    wizard_step(b, "deploy")
    b.shot(shots, "08-wizard-deploy")
    for step in ("basic", "services", "volumes", "registries", "advanced", "targets", "deploy"):
        wizard_step(b, step)
        assert unlabelled(b) == [], f"inputs without a label on step {step}: {unlabelled(b)}"
    b.click("wizard-save")
    b.wait(lambda: "/apps/web" in b.d.current_url and b.visible('[data-testid="deploy-table"]'),
           20, "the detail page after save")
    code, app = stack.api.get(stack.path("apps", "web"))
    assert code == 200, app
    seen["v1"] = app["version"]  # versions are the namespace's revisions: not 1
    svc = app["services"][0]
    assert svc["env"] == [{"name": "GREETING", "value": "v1"}] and svc["command"] == SERVE, svc
    assert svc["volumeMounts"][0]["mountPath"] == "/site" and svc["volumeMounts"][0]["readOnly"]
    assert app["selector"] == {"matchLabels": {"region": "east"}}, app["selector"]
    no_errors(b)


def unlabelled(b):
    """The visible form controls of the page with no accessible name (a <label>, aria-label or
    aria-labelledby): a screen reader could not say what they are."""
    return b.d.execute_script("""
        return [...document.querySelectorAll('main input, main select, main textarea')]
            .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') &&
                           !e.getAttribute('aria-labelledby'))
            .map((e) => e.getAttribute('data-testid') || e.id || e.outerHTML.slice(0, 80));""")


def phase_cell(b, node):
    return b.text(f'[data-testid="deploy-table"] tr[data-node="{node}"] [data-col="phase"]')


def test_detail_page_shows_running(stack, browser, shots):
    b = browser
    b.wait(lambda: phase_cell(b, NODE) == "Running" or None, 120,
           "web Running on the detail page")
    b.wait(lambda: b.visible(f'tr[data-node="{NODE}"] [data-container="web"]'), 20,
           "the container web in the node's row")
    assert b.text('[data-testid="app-version"]') == str(seen["v1"])
    b.shot(shots, "09-app-detail")
    no_errors(b)


def test_edit_env_value_applies_new_version(stack, browser, shots):
    b = browser
    b.click("detail-edit")
    b.find("f-name")
    wizard_step(b, "services")
    b.type("f-services[0].env[0].value", "v2")
    b.shot(shots, "10-wizard-edit")
    b.click("wizard-save")
    b.wait(lambda: stack.api.get(stack.path("apps", "web"))[1]["version"] > seen["v1"] or None,
           20, "a new version of web")
    code, app = stack.api.get(stack.path("apps", "web"))
    assert app["services"][0]["env"] == [{"name": "GREETING", "value": "v2"}], app
    v2 = seen["v2"] = str(app["version"])
    b.wait(lambda: "/edit" not in b.d.current_url and
           b.text('[data-testid="app-version"]') == v2 or None, 20, f"version {v2} on the page")
    b.wait(lambda: (b.text(f'[data-testid="deploy-table"] tr[data-node="{NODE}"] '
                           '[data-col="version"]') == v2 and phase_cell(b, NODE) == "Running")
           or None, 120, f"version {v2} Running on the node")
    no_errors(b)


def test_validation_error_is_shown_at_the_field(stack, browser, shots):
    b = browser
    b.go("#/apps/web/edit")
    b.find("f-name")
    wizard_step(b, "services")
    b.type("f-services[0].image", "not an image")
    b.click("wizard-save")
    err = b.wait(lambda: b.visible('[data-field="services[0].image"] [data-testid="field-error"]'),
                 15, "the server's error at services[0].image")
    assert "image" in err.text, err.text
    b.shot(shots, "11-validation-error")
    code, app = stack.api.get(stack.path("apps", "web"))
    assert str(app["version"]) == seen["v2"] and app["services"][0]["image"] == IMAGE, app
    # nothing changed
    no_errors(b)


def test_function_app_shows_qps_after_calls(stack, browser, shots):
    code, body = stack.api.post(stack.path("configs"), {"name": "fn-code", "kind": "config",
                                                       "data": {"index.py": PY_CODE}})
    assert code == 201, body
    b = browser
    b.go("#/new")
    b.type("f-name", "calc")
    b.click("f-type-function")
    wizard_step(b, "services")
    b.type("f-services[0].name", "py")
    b.select("f-services[0].runtime", "python3")
    b.select_when_offered("f-services[0].functionConfig", "fn-code",
                          "config fn-code offered as function code")
    b.present("f-services[0].functions[0].name") or b.click("add-function-0")
    b.type("f-services[0].functions[0].name", "double")
    b.type("f-services[0].functions[0].handler", "index.handler")
    b.shot(shots, "12-wizard-function")
    wizard_step(b, "advanced")
    box = b.find("f-monitorQps")
    if not box.is_selected():
        box.click()
    wizard_step(b, "targets")
    target_east(b)
    b.click("wizard-save")
    b.wait(lambda: "/apps/calc" in b.d.current_url and "/edit" not in b.d.current_url and
           b.visible('[data-testid="deploy-table"]'), 20, "the detail page of calc")
    b.wait(lambda: phase_cell(b, NODE) == "Running" or None, 180, "calc Running")
    port = stack.gateway_ports[NODE]

    def call():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/py/double", data=b'{"in": 21}',
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    assert harness.poll(lambda: call() == (200, {"out": 42}) or None, 30, "py/double answers")
    for _ in range(20):
        assert call() == (200, {"out": 42})
    calls = 1 + 20  # at least: the first answered call and the twenty after it
    chart = b.find("qps-chart", timeout=30)
    # The totals count the calls once the node's counters reached the bridge (every second).
    b.wait(lambda: int(b.text('[data-testid="qps-totals"] [data-total="requests"]') or 0) >= calls
           or None, 60, f"at least {calls} requests in the page's totals")
    assert b.text('[data-testid="qps-totals"] [data-total="success"]') == \
        b.text('[data-testid="qps-totals"] [data-total="requests"]')
    # The requests chart draws a line and says its latest value (role=img, aria-label).
    svg = b.wait(lambda: [e for e in chart.find_elements(By.CSS_SELECTOR, "svg[role=img]")
                          if e.find_elements(By.CSS_SELECTOR, "path, polyline")] or None,
                 30, "a chart with a line")[0]
    assert "Requests" in (svg.get_attribute("aria-label") or ""), svg.get_attribute("aria-label")
    b.shot(shots, "13-app-detail-qps")
    no_errors(b)


def test_nodes_pages(stack, browser, shots):
    b = browser
    b.go("#/nodes")
    b.wait(lambda: b.visible(f'[data-testid="nodes-table"] tr[data-node="{NODE}"]'), 15,
           "node east in the list")
    b.shot(shots, "14-nodes")
    b.go(f"#/nodes/{NODE}")
    b.wait(lambda: b.visible('[data-testid="node-apps-table"] tr[data-app="web"]'), 20,
           "app web on the node's page")
    b.shot(shots, "15-node-detail")
    no_errors(b)


def test_lists_page_and_search(stack, browser, shots):
    """The nodes list pages (20 a page) and searches as you type; the configs list too."""
    for i in range(25):
        code, body = stack.api.post(stack.path("nodes"), {"name": f"spare-{i:02d}", "labels": {}})
        assert code == 201, body
    b = browser
    b.go("#/nodes")
    info = lambda: b.text('[data-testid="nodes-page"]') or ""  # noqa: E731
    b.wait(lambda: "1 of 2" in info() or None, 15, "page 1 of 2 of the nodes")
    assert b.find("nodes-prev").get_attribute("disabled") is not None
    b.click("nodes-next")
    b.wait(lambda: "2 of 2" in info() or None, 15, "page 2 of 2 of the nodes")
    assert b.find("nodes-next").get_attribute("disabled") is not None
    rows = b.keys("nodes-table", "data-node")
    assert len(rows) == 26 - 20, rows
    b.click("nodes-prev")
    b.wait(lambda: "1 of 2" in info() or None, 15, "back on page 1")
    b.type("nodes-search", "spare-1")
    b.wait(lambda: sorted(b.keys("nodes-table", "data-node")) ==
           [f"spare-1{i}" for i in range(10)] or None, 15, "the ten spare-1x nodes")
    b.go("#/configs")
    b.type("configs-search", "fn")
    b.wait(lambda: b.keys("configs-table", "data-config") == ["fn-code"] or None, 15,
           "only fn-code found")
    no_errors(b)
    for i in range(25):
        assert stack.api.delete(stack.path("nodes", f"spare-{i:02d}"))[0] == 200


def test_app_page_pages_its_nodes(stack, browser, shots):
    """An app on 101 registered nodes (none of them real: all Pending): its page shows 100 node
    rows and a pager; the next page holds the last one; the counters count all 101."""
    names = [f"wide-{i:03d}" for i in range(101)]
    for n in names:
        code, body = stack.api.post(stack.path("nodes"), {"name": n, "labels": {"fleet": "wide"}})
        assert code == 201, body
    app = {"name": "wide", "selector": {"matchLabels": {"fleet": "wide"}},
           "services": [{"name": "web", "image": IMAGE}]}
    code, body = stack.api.post(stack.path("apps"), app)
    assert code == 201, body
    b = browser
    b.go("#/apps/wide")
    info = lambda: b.text('[data-testid="deploy-page"]') or ""  # noqa: E731
    b.wait(lambda: "1 of 2" in info() and "101" in info() or None, 15, "page 1 of 2 (101 nodes)")
    assert b.keys("deploy-table", "data-node") == names[:100]
    assert b.find("deploy-prev").get_attribute("disabled") is not None
    counter = '[data-testid="detail-counters"] [data-counter="targeted"]'
    b.wait(lambda: b.visible(counter).get_attribute("data-value") == "101" or None, 15,
           "101 targeted")
    b.click("deploy-next")
    b.wait(lambda: b.keys("deploy-table", "data-node") == names[100:] or None, 15,
           "the last node on page 2")
    assert "2 of 2" in info() and b.find("deploy-next").get_attribute("disabled") is not None
    b.shot(shots, "24-app-detail-nodes-paged")
    no_errors(b)
    assert stack.api.delete(stack.path("apps", "wide"))[0] == 200
    for n in names:
        assert stack.api.delete(stack.path("nodes", n))[0] == 200


def test_switch_language(stack, browser, shots):
    b = browser
    b.go("#/apps")
    b.find("apps-table")
    b.select("lang-select", "zh")
    b.wait(lambda: b.text('[data-testid="nav-apps"]') == "应用" or None, 10, "the nav in Chinese")
    b.shot(shots, "16-apps-zh")
    missing = b.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('/js/core.js').then((m) => {
            const s = m.allStrings(), out = [];
            for (const k of new Set([...Object.keys(s.en), ...Object.keys(s.zh)]))
                if (!s.en[k] || !s.zh[k]) out.push(k);
            done(out);
        }, (e) => done(['import failed: ' + e]));""")
    assert missing == [], f"strings without both languages: {missing}"
    b.go("#/apps/web")
    b.find("deploy-table")
    b.shot(shots, "17-app-detail-zh")
    b.select("lang-select", "en")
    b.wait(lambda: b.text('[data-testid="nav-apps"]') == "Applications" or None, 10,
           "the nav in English again")
    no_errors(b)


def test_delete_app_from_the_list(stack, browser, shots):
    b = browser
    b.go("#/apps")
    b.wait(lambda: b.visible('[data-testid="apps-table"] tr[data-app="web"]'), 15, "web listed")
    b.shot(shots, "18-apps")
    b.click("delete-web")
    dlg = b.find("confirm-dialog")
    assert "web" in dlg.text, dlg.text
    b.shot(shots, "19-delete-confirm")
    b.click("confirm-ok")
    b.wait(lambda: not b.visible('[data-testid="apps-table"] tr[data-app="web"]') or None, 15,
           "web gone from the list")
    assert stack.api.get(stack.path("apps", "web"))[0] == 404
    assert b.visible('[data-testid="apps-table"] tr[data-app="calc"]'), "calc must stay"
    no_errors(b)


def test_tablet_layout(stack, browser, shots):
    """At a tablet's size (820 x 1180) the pages fit the width: nothing but tables scrolls
    sideways."""
    b = browser
    b.d.set_window_size(820, 1180)
    try:
        for hash_, testid, name in (("#/apps", "apps-table", "20-tablet-apps"),
                                    ("#/apps/calc", "deploy-table", "21-tablet-app-detail"),
                                    ("#/new", "f-name", "22-tablet-wizard"),
                                    (f"#/nodes/{NODE}", "node-apps-table", "23-tablet-node")):
            b.go(hash_)
            b.find(testid)
            wide = b.d.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert wide <= 0, f"{hash_} is {wide}px wider than the window"
            b.shot(shots, name)
    finally:
        b.d.set_window_size(1280, 900)
    no_errors(b)
