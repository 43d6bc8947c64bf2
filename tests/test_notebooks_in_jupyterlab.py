"""JupyterLab in a real browser, as a student uses it: a server on 127.0.0.1 with a token, in the smoke profile,
and headless Chromium (Debian's ``chromium``, driven by Playwright) that opens a notebook, runs all its cells,
finds no error, moves an explorer's control and sees its image change. Screenshots go to runs/browser/.
$WORKBOOK_BROWSER_PROFILE=cpu runs the notebooks in another profile instead, for screenshots of trained models.

Without Chromium (or Playwright) the test is skipped, naming the reason; with $WORKBOOK_REQUIRE_BROWSER=1, as
in CI, that is a failure. $WORKBOOK_CHROMIUM names another Chromium binary.
"""
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from helpers import runtime

SCREENSHOTS = runtime.ROOT / "runs" / "browser"
PROFILE = os.environ.get("WORKBOOK_BROWSER_PROFILE", "smoke")
RUN_ALL_SECONDS = 300 if PROFILE == "smoke" else 3 * 3600


def chromium() -> str:
    return os.environ.get("WORKBOOK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or ""


def missing() -> str:
    """Why the browser test cannot run on this machine; empty when it can."""
    if not chromium():
        return "no Chromium: neither chromium nor chromium-browser is on PATH (Debian: apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    return ""


@pytest.fixture(scope="module")
def browser():
    reason = missing()
    if reason and os.environ.get("WORKBOOK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"$WORKBOOK_REQUIRE_BROWSER=1 but {reason}")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(),
                                              args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield launched
        launched.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop(server: subprocess.Popen, base: str, token: str) -> None:
    """Shut the server down with its kernels through its REST API; terminate it, then kill it, if it lingers."""
    try:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                                      headers={"Authorization": f"token {token}"}), timeout=5)
    except OSError:  # gone already, or not answering: the signals below
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            server.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, sig)
    server.wait()


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """JupyterLab on a copy of notebooks/ (so that nothing it saves reaches the committed notebooks), with fresh
    settings (no news) and workspaces: its URL and token. Stopped at the end, whatever happened."""
    folder = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(runtime.ROOT / "notebooks", folder / "notebooks")
    quiet = folder / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    quiet.parent.mkdir(parents=True)
    quiet.write_text('{"fetchNews": "false"}')  # no question about news over the screenshots
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WORKBOOK_PROFILE": PROFILE, "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(runtime.ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("MPLBACKEND", None)  # figures drawn inline, as in a student's JupyterLab
    log = open(folder / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={folder / 'notebooks'}", "--LabApp.expose_app_in_browser=True",
                               *(["--allow-root"] if os.geteuid() == 0 else [])],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not answers(f"{base}/api/status?token={token}"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        stop(server, base, token)
        log.close()


RUN_ALL = """async ([path, seconds]) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    if (!panel || panel.context.path !== path) throw new Error(`the open document is not ${path}`);
    await panel.context.sessionContext.ready;
    const timeout = new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`cells still running after ${seconds} s`)), seconds * 1000));
    await Promise.race([app.commands.execute('notebook:run-all-cells'), timeout]);
    const problems = [];
    const cells = panel.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        if (cell.executionCount === null) problems.push(`cell ${i} did not run`);
        for (const output of cell.outputs.toJSON())
            if (output.output_type === 'error') problems.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
    }
    return problems;
}"""


def pick(explorer, label: str) -> None:
    """Choose ``label`` in the explorer's first drop-down list."""
    explorer.locator("select").first.select_option(label=label)


def press(explorer, label: str) -> None:
    """Click the explorer's button ``label`` (e.g. one of a set of toggle buttons)."""
    explorer.locator("button", has_text=label).click()


def slide(explorer, key: str) -> None:
    """Press ``key`` (an arrow, Home, End) on the handle of the explorer's first slider."""
    explorer.locator(".noUi-handle").first.press(key)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


SHOWN = "el => el.complete && el.naturalWidth > 0"


@pytest.mark.parametrize("notebook,moves", [
    ("2_conditional.ipynb", [(0, pick, "7"), (1, slide, "End")]),  # the digits; the reverse process to t = 0
    ("3_dann.ipynb", [(0, press, "domain"), (0, pick, "Adaptation (DANN)")]),  # the t-SNE by domain; another model
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_student_runs_the_notebook_in_jupyterlab_and_moves_its_explorers(lab, browser, notebook, moves):
    base, token = lab
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
        page.wait_for_function("path => window.jupyterapp?.shell.currentWidget?.context?.path === path", arg=notebook,
                               timeout=60_000)
        assert page.evaluate(RUN_ALL, [notebook, RUN_ALL_SECONDS]) == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        stem = notebook.removesuffix(".ipynb")
        for step, (index, move, argument) in enumerate(moves, 1):
            explorer = page.locator(".workbook-explorer").nth(index)
            image = explorer.locator("img")
            image.scroll_into_view_if_needed()
            page.wait_for_function(SHOWN, arg=image.element_handle())
            before, source = image.screenshot(), image.get_attribute("src")
            move(explorer, argument)
            page.wait_for_function("([el, src]) => el.src !== src && el.complete && el.naturalWidth > 0",
                                   arg=[image.element_handle(), source], timeout=30_000)
            after = pixels(image.screenshot())
            assert after.shape != pixels(before).shape or not np.array_equal(after, pixels(before)), \
                f"explorer {index} of {notebook}: the image did not change after {move.__name__}({argument!r})"
            explorer.screenshot(path=SCREENSHOTS / f"{stem}-move{step}.png")
        page.screenshot(path=SCREENSHOTS / f"{stem}.png")
    finally:
        page.close()
