"""Sign-in for real: a production-mode console in Chromium signing in through an OIDC provider on loopback.

- the provider: ``oidc-provider-mock`` (PyPI) in a subprocess on a free port, with an engineer and a viewer;
- the UI: ``python -m console ui`` (the production start-up checks, then Streamlit with the console's secrets
  file for ``st.login``), in production mode: Snowflake is the embedded warehouse's fakesnow server reached
  through ``[connections.snowflake]`` and ``adapters/snowflake.py``; the workflow engine is the local engine on
  the same state DB (the Databricks emulator is not part of this test);
- the browser: Debian's Chromium through Playwright.

An anonymous visitor sees the sign-in page only; the engineer signs in through the provider's form and lands
on Home with name and role; after logging out, a viewer signs in and finds the reruns disabled. A disabled
button cannot be pressed in a browser, so the rerun the viewer's session would request is made with the
viewer's identity through ``console.actions.request_action``: refused there, and audited as "denied", which
the viewer then reads on the Audit page. Every wait is bounded; every process is stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from console import actions
from console.auth import signed_in_user
from console.errors import NotAuthorised
from console.settings import load_settings
from console.store import action_requests, audit_log
from rehearsal.stack import stop_group, wait_http
from tests.conftest import free_port
from tests.prodkit import ENGINEER, VIEWER, auth_section, snowflake_section, write_secrets, write_settings
from tests.test_browser import ARTIFACTS, CHROMIUM, chromium, settle, wait_healthy
from tests.test_pages import ROOT, running_stack

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI") != "true",
                       reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
]

PEOPLE = {ENGINEER: {"sub": "eve", "email": ENGINEER, "email_verified": True, "name": "Eve Engineer"},
          VIEWER: {"sub": "vic", "email": VIEWER, "email_verified": True, "name": "Vic Viewer"}}


@pytest.fixture
def production(tmp_path: Path) -> Iterator[SimpleNamespace]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing at /usr/bin/chromium: apt-get install -y chromium")
    with running_stack(tmp_path / "data", seed_days=1) as stack:
        provider_port, ui_port = free_port(), free_port()
        provider_url, url = f"http://127.0.0.1:{provider_port}", f"http://127.0.0.1:{ui_port}"
        secrets = {"connections": {"snowflake": snowflake_section(int(stack.env["CONSOLE_WAREHOUSE_PORT"]), 10)},
                   "auth": auth_section(url, provider_url)}
        env = {**os.environ, **stack.env,
               "CONSOLE_SETTINGS": str(write_settings(tmp_path / "console.toml", mode="production")),
               "CONSOLE_SECRETS": str(write_secrets(tmp_path / "secrets.toml", secrets)),
               "CONSOLE_ENGINE": "local", "CONSOLE_UI_PORT": str(ui_port),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        env.pop("CONSOLE_UI_ADDRESS", None)
        provider_cmd = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(provider_port)]
        for claims in PEOPLE.values():
            provider_cmd += ["--user-claims", json.dumps(claims)]
        logs = [(tmp_path / "provider.log").open("wb"), (tmp_path / "ui.log").open("wb")]
        processes: list[subprocess.Popen[bytes]] = []
        try:
            processes.append(subprocess.Popen(provider_cmd, stdout=logs[0], stderr=subprocess.STDOUT,
                                              start_new_session=True))
            wait_http(f"{provider_url}/.well-known/openid-configuration", processes[0], 30, "oidc-provider-mock")
            processes.append(subprocess.Popen([sys.executable, "-m", "console", "ui"], cwd=ROOT, env=env,
                                              stdout=logs[1], stderr=subprocess.STDOUT, start_new_session=True))
            wait_healthy(url, processes[1], timeout=45)
            settings = load_settings(Path(env["CONSOLE_SETTINGS"]), secrets=secrets)
            yield SimpleNamespace(url=url, stack=stack, settings=settings, log=tmp_path / "ui.log")
        finally:
            for process in reversed(processes):
                stop_group(process)
            for log in logs:
                log.close()


def sign_in(page: object, url: str, sub: str) -> None:
    """From the sign-in page through the provider's form ("sub", Authorize) back to the console."""
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    form = page.locator("input[name=sub]")  # type: ignore[attr-defined]
    form.wait_for(timeout=15_000)
    form.fill(sub)
    page.get_by_role("button", name="Authorize").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{url}/**", timeout=20_000)  # type: ignore[attr-defined]


def test_an_engineer_and_a_viewer_sign_in_through_the_oidc_provider(production: SimpleNamespace) -> None:
    url, stack = production.url, production.stack
    started = time.perf_counter()
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        page.goto(url, timeout=30_000)
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        body = page.inner_text("body")
        assert "Log in to use the console" in body
        for leak in ("Production.", "fakesnow", "Signed in", "Refreshes every 30 s", "GR_", "Traceback"):
            assert leak not in body, leak  # no banner, no data, no user
        page.screenshot(path=str(ARTIFACTS / "sign-in.png"), timeout=15_000)

        signing = time.perf_counter()
        sign_in(page, url, "eve")
        settle(page, "Refreshes every 30 s")
        sign_in_seconds = time.perf_counter() - signing
        body = page.inner_text("body")
        assert "Eve Engineer" in body and f"Signed in as {ENGINEER} (engineer)" in body, body[:1500]
        assert "Production." in body and "Traceback" not in body
        page.screenshot(path=str(ARTIFACTS / "home-signed-in.png"), timeout=15_000)

        # Streamlit logs out at the provider too (OIDC RP-initiated logout): its form, then back here.
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="End session").click(timeout=20_000)
        page.get_by_role("button", name="Log in").wait_for(timeout=20_000)
        assert "Signed in" not in page.inner_text("body")

        sign_in(page, url, "vic")
        page.goto(f"{url}/Workflow?date={stack.failed_day}", timeout=30_000)
        settle(page, "Run history: last 30 business days")
        body = page.inner_text("body")
        assert f"Signed in as {VIEWER} (viewer)" in body and "Vic Viewer" in body
        assert page.get_by_role("button", name="Rerun failed tasks and their dependents").is_disabled()

        # The rerun the viewer's session would ask for, with the identity the provider gave it: console/ refuses.
        who = signed_in_user(production.settings, "production", {"is_logged_in": True, **PEOPLE[VIEWER]})
        assert who is not None and who.role == "viewer"
        run = stack.adapters.engine.get_run(stack.failed_run)
        now = dt.datetime.now(dt.UTC)
        plan = actions.plan_action(stack.adapters, "repair", stack.failed_day, run, now)
        with pytest.raises(NotAuthorised, match="is a viewer and may not rerun tasks"):
            actions.request_action(stack.adapters, who, plan, acknowledged=True, now=now)

        page.goto(f"{url}/Audit", timeout=30_000)
        settle(page, "The audit log is append-only")
        assert "1 of 1 entries" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "audit-denied.png"), timeout=15_000)
    with stack.adapters.store.connect() as conn:
        rows = conn.execute(sa.select(audit_log)).all()
        requests = conn.execute(sa.select(action_requests)).all()
    assert [(r.actor, r.role, r.action, r.outcome) for r in rows] == [(VIEWER, "viewer", "repair", "denied")]
    assert requests == []  # nothing reached the engine
    log = production.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    print(f"sign-in through the provider: {sign_in_seconds:.1f} s; whole test {time.perf_counter() - started:.1f} s")
    assert time.perf_counter() - started < 120
