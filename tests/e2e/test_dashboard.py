"""The dashboard at /ui, driven in headless Chromium by Playwright: sign in, watch traffic arrive, filter the
request log, open a request's decision trace, create and revoke a key. Screenshots go to tests/artifacts/, and
the overview is copied to docs/img/dashboard.png for the README."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AuthenticationError, NotFoundError, OpenAI

from tests.gateway_process import GatewayProcess, free_port

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
MASTER = "sk-master-dashboard-test-0123456789"
MESSAGES: Any = [{"role": "user", "content": "hello from the dashboard test"}]
WAIT = 20_000  # ms: the pages poll every 3-5 s

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def config() -> dict[str, Any]:
    return {
        "server": {"master_key": MASTER},
        "router": {"num_retries": 0, "breaker": {"consecutive_failures": 1, "cooldown_s": 300}},
        "model_groups": {
            "demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
            "demo-strong": {"deployments": [{"provider": "demo", "model": "demo-2"}]},
            # a router group for the Routing page (random: needs no router file)
            "auto": {"router": {"kind": "random", "members": ["demo", "demo-strong"], "strong_share": 0.5}},
            "flaky": {
                "deployments": [
                    {
                        "provider": "openai_compatible",
                        "model": "m",
                        "api_key": "k",
                        "api_base": f"http://127.0.0.1:{free_port()}/v1",
                    }
                ],
                "fallbacks": {"default": ["demo"]},
            },
        },
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(config(), tmp_path_factory.mktemp("dashboard"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def client(gateway: GatewayProcess, key: str = MASTER) -> OpenAI:
    return OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def send(gateway: GatewayProcess, count: int, model: str = "demo") -> None:
    for _ in range(count):
        client(gateway).chat.completions.create(model=model, messages=MESSAGES)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(browser: Any, gateway: GatewayProcess, key: str) -> Any:
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.goto(f"{gateway.base_url}/ui")
    page.fill("#login-key", key)
    page.click("#login-form button")
    return page


def test_sign_in_watch_traffic_filter_and_open_a_request(gateway: GatewayProcess, browser: Any) -> None:
    send(gateway, 5)
    send(gateway, 1, model="flaky")  # served by demo after flaky/0 fails: a two-attempt trace
    with pytest.raises(NotFoundError):
        send(gateway, 1, model="no-such-model")

    refused = sign_in(browser, gateway, "sk-wrong-key")
    expect(refused.locator("#login-error")).to_be_visible()
    expect(refused.locator("#nav")).to_be_hidden()
    refused.close()

    page = sign_in(browser, gateway, MASTER)
    requests_stat = page.locator("[data-stat=requests] .value")
    expect(requests_stat).to_have_text("7", timeout=WAIT)
    send(gateway, 3)  # traffic arriving while the page is open shows up on its next refresh
    expect(requests_stat).to_have_text("10", timeout=WAIT)
    expect(page.locator("[data-stat=error-rate] .value")).to_have_text("10.0%")
    expect(page.locator("#chart-requests canvas")).to_have_count(1)
    page.select_option("#window", "300")
    expect(page.locator("#chart-latency canvas")).to_have_count(1)
    shutil.copyfile(shot(page, "overview"), ROOT / "docs" / "img" / "dashboard.png")

    page.click("#nav a[data-page=requests]")
    rows = page.locator("#logs tbody tr[data-request-id]")
    expect(rows).to_have_count(10, timeout=WAIT)
    page.select_option("#filters select[name=status]", "error")
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1, timeout=WAIT)
    expect(rows.first.locator("[data-status]")).to_have_text("404")
    page.select_option("#filters select[name=status]", "")
    page.select_option("#filters select[name=model]", "flaky")
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1, timeout=WAIT)
    shot(page, "requests")

    rows.first.click()
    expect(page.locator("#detail [data-field=model_group]")).to_have_text("flaky")
    attempts = page.locator("#attempts tbody tr")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("flaky/0")
    expect(attempts.nth(0).locator(".badge.bad")).to_be_visible()
    expect(attempts.nth(1)).to_contain_text("demo/0")
    expect(attempts.nth(1).locator(".badge.ok")).to_have_text("ok")
    shot(page, "request-detail")

    page.click("#nav a[data-page=deployments]")
    expect(page.locator("tr[data-deployment='flaky/0'] .badge")).to_have_text("open", timeout=WAIT)
    expect(page.locator("tr[data-deployment='demo/0'] .badge")).to_have_text("closed")

    page.click("#nav a[data-page=spend]")
    expect(page.locator("#spend tbody tr").filter(has_text="demo")).to_have_count(1, timeout=WAIT)
    expect(page.locator("#spend-chart canvas")).to_have_count(1)
    shot(page, "spend")
    page.close()


def test_create_and_revoke_a_key(gateway: GatewayProcess, browser: Any) -> None:
    page = sign_in(browser, gateway, MASTER)
    expect(page.locator("#nav")).to_be_visible()
    page.click("#nav a[data-page=keys]")
    page.fill("#create-key input[name=alias]", "dashboard-made")
    page.fill("#create-key input[name=models]", "demo")
    page.fill("#create-key input[name=rpm]", "100")
    page.click("#create-key button[type=submit]")
    secret = page.locator("#new-secret")
    expect(secret).to_be_visible(timeout=WAIT)
    key = secret.inner_text().strip()
    assert key.startswith("sk-")
    row = page.locator("#keys tr[data-alias=dashboard-made]")
    expect(row.locator(".badge")).to_have_text("active")
    reply = client(gateway, key).chat.completions.create(model="demo", messages=MESSAGES)
    assert reply.choices[0].message.content
    shot(page, "keys")

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.danger").click()
    expect(row.locator(".badge")).to_have_text("revoked", timeout=WAIT)
    with pytest.raises(AuthenticationError):
        client(gateway, key).chat.completions.create(model="demo", messages=MESSAGES)
    page.close()


def test_a_viewer_sees_traffic_but_cannot_manage_keys(gateway: GatewayProcess, browser: Any) -> None:
    created = httpx.post(
        f"{gateway.base_url}/admin/keys",
        json={"alias": "watcher", "role": "viewer"},
        headers={"Authorization": f"Bearer {MASTER}"},
    )
    assert created.status_code == 201
    page = sign_in(browser, gateway, created.json()["key"])
    expect(page.locator("[data-stat=requests]")).to_be_visible(timeout=WAIT)
    page.click("#nav a[data-page=keys]")
    expect(page.locator("#page [role=alert]")).to_contain_text("more rights", timeout=WAIT)
    page.close()


def test_a_user_key_cannot_sign_in(gateway: GatewayProcess, browser: Any) -> None:
    created = httpx.post(
        f"{gateway.base_url}/admin/keys", json={"alias": "just-a-user"}, headers={"Authorization": f"Bearer {MASTER}"}
    )
    page = sign_in(browser, gateway, created.json()["key"])
    expect(page.locator("#login-error")).to_contain_text("admin or viewer", timeout=WAIT)
    page.close()


def test_the_shell_is_locked_down(gateway: GatewayProcess) -> None:
    shell = httpx.get(f"{gateway.base_url}/ui/")
    assert shell.status_code == 200
    assert "script-src 'self'" in shell.headers["content-security-policy"]
    assert MASTER not in shell.text  # the page carries no secret: it signs in like any client
    vendored = httpx.get(f"{gateway.base_url}/ui/static/vendor/uplot/uPlot.iife.min.js")
    assert vendored.status_code == 200 and "uPlot" in vendored.text


def test_the_routing_page_shows_each_router_group(gateway: GatewayProcess, browser: Any) -> None:
    send(gateway, 4, model="auto")
    page = sign_in(browser, gateway, MASTER)
    expect(page.locator("#nav")).to_be_visible()
    page.click("#nav a[data-page=routing]")
    group = page.locator("[data-router=auto]")
    expect(group.locator("[data-field=strategy] td")).to_have_text("random", timeout=WAIT)
    expect(group.locator("[data-field=members] td")).to_have_text("demo → demo-strong")
    expect(group.locator("[data-field=threshold] td")).to_have_text("0.5000 (fixed)")
    expect(group.locator("[data-field=realised-share] td")).to_contain_text("of the last 4 decisions")
    expect(page.locator("[data-router]")).to_have_count(1)
    shot(page, "routing")
    page.close()
