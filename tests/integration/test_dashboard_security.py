"""The dashboard against hostile log content: a strict CSP, no HTML sinks in its scripts, and in a real browser the
payload shows as text, never as an element."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway_process import GatewayProcess

MASTER = "mk-dashboard-security-41c2"
XSS = '<img src=x onerror="window.__xss=1">'
HI = [{"role": "user", "content": "hi"}]
CHROMIUM = Path("/usr/bin/chromium")
UI_STATIC = Path(__file__).resolve().parents[2] / "switchyard" / "server" / "ui" / "static"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {"master_key": MASTER, "log_bodies": True},
        "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("dashboard-security"))
    yield process
    process.stop()


def call(gateway: GatewayProcess, method: str, path: str, key: str | None = MASTER, **kw: Any) -> httpx.Response:
    headers = {**kw.pop("headers", {}), **({"authorization": f"Bearer {key}"} if key else {})}
    return httpx.request(method, gateway.base_url + path, headers=headers, timeout=10, **kw)


def chat(gateway: GatewayProcess, key: str, model: str = "demo", **body: Any) -> httpx.Response:
    return call(gateway, "POST", "/v1/chat/completions", key, json={"model": model, "messages": HI, **body})


def test_dashboard_escapes_log_content_and_sets_a_strict_csp(gateway: GatewayProcess) -> None:
    assert chat(gateway, MASTER, model=XSS).status_code == 404  # logged with the hostile model name
    assert chat(gateway, MASTER, user=XSS).status_code == 200
    shell = call(gateway, "GET", "/ui/", None)
    csp = shell.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and script_src.group(1).strip() == "'self'"  # no inline scripts, no eval, no CDN
    assert "frame-ancestors 'none'" in csp and shell.headers["x-content-type-options"] == "nosniff"
    for script in UI_STATIC.glob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{script.name} uses {sink}: data from logs must go in as text"
    # The payload really is in the data the dashboard renders (logs are written in batches: wait for them).
    eventually(lambda: any(r.get("model_group") == XSS for r in logs(gateway)))
    eventually(lambda: any("<img src=x onerror=" in (r.get("request_body") or "") for r in logs(gateway)))


def logs(gateway: GatewayProcess) -> list[dict[str, Any]]:
    return list(call(gateway, "GET", "/admin/logs?limit=200").json()["data"])


def eventually(condition: Callable[[], bool], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.1)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_dashboard_renders_hostile_log_content_as_text(gateway: GatewayProcess) -> None:
    """In a real browser: the payload shows up as literal text in the list and the detail, never as an element."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    assert chat(gateway, MASTER, model=XSS).status_code == 404
    eventually(lambda: any(r.get("model_group") == XSS for r in logs(gateway)))
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{gateway.base_url}/ui")
            page.fill("#login-key", MASTER)
            page.click("#login-form button")
            page.click("#nav a[data-page=requests]")
            row = page.locator("#logs tbody tr[data-request-id]", has_text=XSS).first
            playwright_api.expect(row).to_be_visible(timeout=20_000)
            row.click()
            playwright_api.expect(page.locator("#detail [data-field=model_group]")).to_have_text(XSS)
            assert page.locator("img[src=x]").count() == 0  # the markup was never parsed into an element
            assert page.evaluate("window.__xss") is None
        finally:
            browser.close()
