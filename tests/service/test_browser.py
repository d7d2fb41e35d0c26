"""The console in a real browser: Debian's headless Chromium driven by Playwright (no browser
download: ``executable_path=/usr/bin/chromium``), against the service on 127.0.0.1.

End to end: a real scan of a generated synthetic file opens a case; a reviewer logs in with the
keyboard, opens it, sees the media, the timeline picture and the per-detector evidence, decides;
the audit page shows the entry and the verified chain; an appeal reopens the case. A second run
scans with real detectors. Screenshots of every page go to the test's folder and, when
``SYNTHWATCH_SCREENSHOTS`` names a folder, there too.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthwatch.testing import samples

from .conftest import make_env

pytestmark = [pytest.mark.browser, pytest.mark.network_local]

CHROMIUM = os.environ.get("SYNTHWATCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[dev]')")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


class Served:
    """The app on a real socket (uvicorn in a thread)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.extra = Path(os.environ["SYNTHWATCH_SCREENSHOTS"]) if os.environ.get("SYNTHWATCH_SCREENSHOTS") else None
        self.taken: list[Path] = []

    def __call__(self, page: Any, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        if self.extra is not None:
            self.extra.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.extra / path.name)


def _login_with_keyboard(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/console")
    assert page.url.startswith(f"{base}/console/login")
    page.keyboard.press("Tab")  # the skip link, then the key field (autofocused anyway)
    page.get_by_label("API key").focus()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/queue*")


def _loaded(page: Any, selector: str) -> bool:
    return bool(page.eval_on_selector(selector, "el => el.complete && el.naturalWidth > 0"))


def test_review_end_to_end_in_chromium(browser: Any, tmp_path: Path) -> None:
    env = make_env(tmp_path / "svc", f"sqlite:///{tmp_path / 'db.sqlite'}")
    served = Served(env.app)
    shots = Shots(tmp_path / "screenshots")
    try:
        # a real scan (debug detectors) of a generated picture opens a case by policy
        scan = env.upload(samples.make_image(tmp_path / "upload <img src=x onerror=alert(1)>.jpg", size=(320, 240), seed=1)).json()
        env.drain()
        key = env.key("reviewer")
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto(f"{served.url}/console/login")
        shots(page, "login")
        _login_with_keyboard(page, served.url, key)
        cookie = next(c for c in ctx.cookies() if c["name"] == "sw_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # the session is invisible to script
        assert page.get_by_role("table").count() == 1
        shots(page, "queue")
        case_link = page.locator("table.queue a").first
        case_id = case_link.inner_text()
        case_link.focus()
        page.keyboard.press("Enter")  # open it from the keyboard
        page.wait_for_url(f"{served.url}/console/cases/{case_id}")
        page.wait_for_load_state("networkidle")
        assert _loaded(page, "img.media") and _loaded(page, "figure.timeline img")
        assert page.get_by_text("debug-image").first.is_visible()
        # the uploaded file name is shown as text, never as markup
        assert page.locator("dd.name img").count() == 0
        assert "upload <img src=x onerror=alert(1)>.jpg" in page.inner_text("dd.name")
        shots(page, "case")
        page.get_by_role("button", name="Assign to me").click()
        page.wait_for_load_state()
        assert "The case is assigned." in page.inner_text("main")
        page.get_by_label("Action").select_option("restrict")
        page.get_by_label("Reason").select_option("ai_unlabelled")
        page.get_by_label("Note (kept with the decision)").fill("AI-generated portrait, no label <script>x</script>")
        page.get_by_role("button", name="Record decision").click()
        page.wait_for_load_state()
        assert "The decision is recorded." in page.inner_text("main")
        assert "restrict" in page.inner_text("ol.decisions")
        shots(page, "decided")
        ctx.close()
        # an auditor sees the entry and the verified chain
        actx = browser.new_context(viewport={"width": 1280, "height": 900})
        apage = actx.new_page()
        _login_with_keyboard(apage, served.url, env.key("auditor"))
        apage.get_by_role("link", name="Audit log").click()
        apage.wait_for_load_state()
        main = apage.inner_text("main")
        assert "Chain verified" in main and "case.decided" in main and case_id in main
        apage.get_by_role("button", name="Sign a checkpoint now").click()
        apage.wait_for_load_state()
        assert "A checkpoint of the chain was signed." in apage.inner_text("main")
        shots(apage, "audit")
        apage.goto(f"{served.url}/console/cases/{case_id}")
        assert apage.get_by_role("button", name="Record decision").count() == 0  # auditors cannot decide
        actx.close()
        # an appeal reopens the case
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        _login_with_keyboard(page, served.url, key)
        page.goto(f"{served.url}/console/cases/{case_id}")
        page.get_by_label("Appellant's statement").fill("I drew this myself; it is not AI.")
        page.get_by_label("Appellant (your platform's user id, optional)").fill("user-42")
        page.get_by_role("button", name="Record appeal and reopen").click()
        page.wait_for_load_state()
        text = page.inner_text("main")
        assert "The appeal is recorded" in text and "appealed" in text and "round 2" in text
        shots(page, "appealed")
        page.get_by_role("link", name="Dashboard").click()
        page.wait_for_load_state()
        assert "review latency p95" in page.inner_text("main")
        shots(page, "dashboard")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{served.url}/console/login*")
        ctx.close()
        with env.core.db.read() as conn:
            from synthwatch.service.review.cases import get_case

            rec = get_case(conn, env.core.tenant_by_name("acme").id, case_id)
        assert rec is not None and rec.state == "appealed" and rec.scan_id == scan["id"]
        assert all(p.stat().st_size > 10_000 for p in shots.taken)
    finally:
        served.close()
        env.client.close()
        env.core.db.dispose()


def test_real_detectors_case_in_chromium(browser: Any, tmp_path: Path, model_store: Any) -> None:
    """One run with real detectors: their names and scores reach the reviewer's page."""
    from synthwatch.config import get_settings
    from synthwatch.detectors import registry
    from synthwatch.models.store import ModelStore

    store = ModelStore(Path(model_store.root))
    names = [n for n in ("clip-probe", "meso4-df") if not registry.missing_models(n, store)]
    if not names or not store.is_installed("centerface"):
        pytest.skip("the real image and face detectors' models are not installed here (synthwatch models setup)")
    home = tmp_path / "svc" / "home"
    home.mkdir(parents=True)
    (home / "models").symlink_to(Path(model_store.root).resolve(), target_is_directory=True)
    env = make_env(tmp_path / "svc", f"sqlite:///{tmp_path / 'db.sqlite'}")
    env.core.core = get_settings(home=home, detectors=names)
    served = Served(env.app)
    shots = Shots(tmp_path / "screenshots-real")
    try:
        scan = env.upload(samples.make_image(tmp_path / "portrait.jpg", size=(320, 240), seed=4),
                          detectors=",".join(names)).json()
        env.drain()
        from synthwatch.service.review import cases as rc

        r = env.client.post("/v1/reports", json={"reason": "deepfake_of_me", "scan_id": scan["id"],
                                                 "text": "that is my face"}, headers=env.auth("uploader"))
        assert r.status_code == 201
        with env.core.db.read() as conn:
            [case] = rc.list_cases(conn, env.core.tenant_by_name("acme").id, rc.CaseFilter())
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        _login_with_keyboard(page, served.url, env.key("reviewer"))
        page.goto(f"{served.url}/console/cases/{case.id}")
        page.wait_for_load_state("networkidle")
        table = page.locator("#det-h + p + table").inner_text()
        for n in names:
            assert n in table
        assert "that is my face" in page.inner_text("ul.reports")
        assert _loaded(page, "img.media")
        shots(page, "case-real-detectors")
        ctx.close()
    finally:
        served.close()
        env.client.close()
        env.core.db.dispose()
