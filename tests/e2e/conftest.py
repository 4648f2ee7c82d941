"""pytest glue of Ferry's end-to-end tests: the options, the `t` fixture, a scope per module and
per test (what a test makes through `t` is cleaned up when it ends), the daemons' logs beside
each failure, and exit status 77 when every test was skipped. How to write and run a test: the
docstring of harness.py."""
import os

import pytest

import harness

_outcomes = {"passed": 0, "skipped": 0, "failed": 0}
_kept = []  # the temp folder, when it was kept


def pytest_addoption(parser):
    g = parser.getgroup("ferry", "Ferry end-to-end tests")
    g.addoption("--engine", choices=("docker", "podman"),
                default=os.environ.get("FERRY_TEST_ENGINE", "docker"),
                help="the container engine the nodes run on (default docker)")
    g.addoption("--build-dir", default=os.environ.get("FERRY_BUILD_DIR", "build"),
                help="the CMake build folder with the daemons (default $FERRY_BUILD_DIR or build)")
    g.addoption("--keep", action="store_true",
                help="keep the temp folder (daemon logs and data) even when everything passed")


def pytest_report_header(config):
    engine = config.getoption("engine")
    sock = os.environ.get(f"FERRY_TEST_{engine.upper()}_SOCK", "not set")
    port = os.environ.get("FERRY_TEST_MQTT_PORT", "not set")
    build = os.path.abspath(config.getoption("build_dir"))
    return f"ferry: engine {engine} ({sock}), broker port {port}, build {build}"


@pytest.fixture(scope="session")
def t(request):
    """The harness.Test of this run (services, engine, temp folder); skips without services."""
    cfg = request.config
    try:
        ctx = harness.Test(cfg.getoption("engine"), cfg.getoption("build_dir"),
                           cfg.getoption("keep"))
    except harness.Skip as e:
        pytest.skip(str(e))
    cfg._ferry_test = ctx
    yield ctx
    cfg._ferry_test = None
    if ctx.cleanup(failed=request.session.testsfailed > 0):
        _kept.append(ctx.tmp)


def _uses_services(request):
    """False for a test file that sets NEEDS_SERVICES = False (it starts what it needs itself,
    test_fleet.py): it gets no `t`, so it runs without the services and without an engine."""
    return getattr(request.module, "NEEDS_SERVICES", True)


@pytest.fixture(scope="module", autouse=True)
def _module_scope(request):
    """Stacks and captures made by a module-scoped fixture live until the module ends."""
    if not _uses_services(request):
        yield
        return
    t = request.getfixturevalue("t")
    mark = t.mark()
    yield
    t.release(mark)


@pytest.fixture(autouse=True)
def _test_scope(request):
    """Before a test: start again any daemon of a longer-lived stack that an earlier test left
    stopped (it failed before restarting it, or the daemon crashed), so one failure does not fail
    the tests after it. After it: a daemon that exited without being told to fails the test, and
    what the test made is cleaned up."""
    if not _uses_services(request):
        yield
        return
    t = request.getfixturevalue("t")
    for s in t.stacks():
        restarted = s.ensure_running()
        if restarted:
            print(f"started again (left stopped by an earlier test): {', '.join(restarted)}")
    mark = t.mark()
    yield
    try:
        for s in t.stacks():
            s.check_alive()
    finally:
        t.release(mark)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    ctx = getattr(item.config, "_ferry_test", None)
    if rep.failed and ctx is not None:
        rep.sections.append((f"ferry daemon logs (all of them in {ctx.tmp})", ctx.logs_text()))


def pytest_runtest_logreport(report):
    if report.passed and report.when == "call":
        _outcomes["passed"] += 1
    elif report.skipped:
        _outcomes["skipped"] += 1
    elif report.failed:
        _outcomes["failed"] += 1


def pytest_sessionfinish(session, exitstatus):
    # CTest's SKIP_RETURN_CODE: a file whose every test was skipped reports itself skipped.
    if exitstatus == 0 and _outcomes["skipped"] and not _outcomes["passed"]:
        session.exitstatus = harness.SKIP


def pytest_terminal_summary(terminalreporter):
    for path in _kept:
        terminalreporter.write_line(f"ferry: logs and data kept in {path}")
    if _outcomes["skipped"] and not (_outcomes["passed"] or _outcomes["failed"]):
        terminalreporter.write_line(f"ferry: every test skipped: exit status {harness.SKIP}")
