"""Browser tests: a real `carnet serve` subprocess on its own database, driven by Playwright in
Debian's Chromium. Under CI (CI=true) a missing Chromium fails the run instead of skipping."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
BIN = Path(sys.executable).parent
ADMIN = ("agnes@carnet-navigateur.fr", "browser-tests-password")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url(tmp: Path) -> str:
    base = os.environ.get("CARNET_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp}/browser.db"
    # A database of its own, so the live server's commits never meet the transactional tests.
    from sqlalchemy import create_engine, text

    name = "carnet_browser_tests"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: browser tests are mandatory in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    tmp = Path(tempfile.mkdtemp(prefix="carnet-browser-"))
    port = _free_port()
    env = {
        **os.environ,
        "CARNET_DATABASE_URL": _database_url(tmp),
        "CARNET_STORAGE_DIR": str(tmp / "files"),
        "CARNET_BACKUP_DIR": str(tmp / "backups"),
        "CARNET_PORT": str(port),
        "CARNET_RATE_LIMIT_LOGIN": "0",
        "CARNET_LOG_LEVEL": "WARNING",
        "CARNET_ENV": "development",
        "CARNET_RUNNER": "embedded",  # the live server runs its jobs, as `make run` does
    }
    env.pop("CARNET_REDIS_URL", None)
    carnet = str(BIN / "carnet")
    subprocess.run([carnet, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([carnet, "demo", "load", "--size", "small"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            carnet,
            "user",
            "create",
            "--email",
            ADMIN[0],
            "--password",
            ADMIN[1],
            "--role",
            "admin",
            "--department",
            "Direction",
            "--first-name",
            "Agnès",
            "--last-name",
            "Navigateur",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - kept open for the server's lifetime
    server = subprocess.Popen(
        [carnet, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.terminate()
        pytest.fail("carnet serve did not start: " + (tmp / "server.log").read_text()[-2000:])
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(live_server: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-quic",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, locale="fr-FR"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def login():  # type: ignore[no-untyped-def]
    """login(page[, email, password]) through the login form."""

    def do(page, email: str = ADMIN[0], password: str = ADMIN[1]) -> None:  # type: ignore[no-untyped-def]
        page.goto("/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)

    return do
