"""Both sides of a self-assessment filing in a real browser (Debian's headless Chromium, Playwright):
the platform admin corrects a declared fact in Chinese through the facts form and files the
finalised report; the regulator logs in with the keyboard, lands on its inbox, requests
rectification with the browser's date-time field, and the platform sees the deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from synthwatch.service.assessments import inbox
from synthwatch.service.assessments import workflow as wf

from .conftest import make_env
from .test_assess import _finalised, spec
from .test_browser import Served, Shots, browser  # noqa: F401  (the module's Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.network_local]


def _login(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/console")
    page.get_by_label("API key").focus()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/console/login" not in url)


def test_both_sides_in_chromium(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    env = make_env(tmp_path / "svc", f"sqlite:///{tmp_path / 'db.sqlite'}")
    served = Served(env.app)
    shots = Shots(tmp_path / "screenshots")
    try:
        acme = env.core.create_tenant("acme")
        admin_key, reg_key = env.key("admin"), env.key("regulator", "cac")
        draft = wf.create(env.core, acme.id, spec(kind="live_audio_room"), wf.Actor("cli"))
        done = _finalised(env, acme.id)

        # the platform: the facts form, typed in Chinese, goes through the API's validation
        adm = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _login(adm, served.url, admin_key)
        adm.goto(f"{served.url}/console/assessments/{draft.id}")
        adm.get_by_label("用户规模 (zh)").fill("约一百万注册用户")
        adm.get_by_label("User scale (en)").fill("about one million registered users")
        adm.get_by_role("button", name="Save the declared facts").click()
        adm.wait_for_url("**done=facts")
        assert wf.get(env.core, acme.id, draft.id).spec.facts.values["user_scale"].zh == "约一百万注册用户"
        shots(adm, "assessment")
        adm.goto(f"{served.url}/console/assessments/{done}")
        adm.get_by_label("Regulator (its tenant name)").fill("cac")
        adm.get_by_role("button", name="File the signed report").click()
        adm.wait_for_url("**done=filed")
        fid = inbox.platform_filings(env.core, acme.id)[0].id

        # the regulator: keyboard login lands on the inbox; rectification with a date-time field
        reg = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _login(reg, served.url, reg_key)
        assert reg.url.startswith(f"{served.url}/console/inbox")
        assert reg.get_by_role("link", name="Queue").count() == 0
        shots(reg, "inbox")
        reg.get_by_role("link", name=fid).click()
        reg.wait_for_url(f"**/console/inbox/{fid}")
        when = (datetime.now(UTC) + timedelta(days=20)).astimezone(timezone(timedelta(hours=8)))
        reg.get_by_label("What must be rectified").fill("请补充夜间审核排班 / add the night shift")
        reg.get_by_label("Deadline (Beijing time, UTC+8, unless a zone is given)").fill(when.strftime("%Y-%m-%dT%H:%M"))
        reg.get_by_role("button", name="Request rectification").click()
        reg.wait_for_url("**done=rectification_requested")
        shots(reg, "filing")
        f = inbox.filing_for_platform(env.core, acme.id, fid)
        assert f.state == "rectification_requested"
        assert abs(f.deadline_at - when.replace(second=0, microsecond=0).timestamp()) < 1  # type: ignore[operator]

        adm.goto(f"{served.url}/console/assessments")
        text = adm.inner_text("main")
        assert "rectification requested" in text and datetime.fromtimestamp(
            f.deadline_at, UTC).strftime("%Y-%m-%d %H:%M UTC") in text  # type: ignore[arg-type]
        assert "请补充夜间审核排班" in text
    finally:
        served.close()
        env.client.close()
        env.core.db.dispose()
