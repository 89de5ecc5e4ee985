"""The HTML report opens in a real headless Chromium (Debian's ``chromium`` package) offline,
is screenshotted without console errors, and the screenshot shows a rendered page."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
# Lines Chromium writes to stderr for page problems: console messages, uncaught script errors,
# and resources it could not load (a self-contained page loads none).
_BAD = ("Uncaught", "CONSOLE", "ERR_FILE_NOT_FOUND", "ERR_NAME_NOT_RESOLVED", "net::ERR_")


def _fixtures():
    """The experiment and report helpers of ``test_render.py`` (one source of truth for both)."""
    path = Path(__file__).with_name("test_render.py")
    spec = importlib.util.spec_from_file_location("_render_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _screenshot(page: Path, out: Path) -> subprocess.CompletedProcess:
    profile = out / "profile"
    shot = out / "shot.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        "--enable-logging=stderr",
        "--v=0",
        page.resolve().as_uri(),
    ]
    # No DISPLAY, no proxies: the page must render from the file alone.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "DISPLAY"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def _problems(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if any(b in ln for b in _BAD)]


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not installed at /usr/bin/chromium (Debian: apt install chromium)",
)


@needs_chromium
@pytest.mark.slow
def test_report_html_renders_in_headless_chromium(tmp_path, tables, write_search):
    fx = _fixtures()
    exp = fx.experiment(tables, write_search, tmp_path / "lw")
    report = fx.importance(exp)
    paths = fx.write(tmp_path / "report", exp, report, formats=("html",))
    page = paths["html"].read_text()
    # the definitions and the ranking across epochs are drawn too
    assert '<dl class="defs">' in page and "<h2>Ranking across epochs</h2>" in page
    proc = _screenshot(paths["html"], tmp_path)
    shot = tmp_path / "shot.png"
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shot.is_file(), f"no screenshot written; stderr:\n{proc.stderr[-3000:]}"
    bad = _problems(proc.stderr)
    assert not bad, "browser reported page problems:\n" + "\n".join(bad)
    assert shot.stat().st_size > 20_000  # a blank 1280x2000 PNG is about 10 KB
    with Image.open(shot) as img:
        assert img.size == (1280, 2000)
        pixels = np.asarray(img.convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"screenshot has only {len(colours)} colours"
    # The top of the page holds the title in dark text on white, not an error page.
    top = pixels[:200]
    assert (top.sum(axis=2) < 200).mean() > 0.001
    assert (top.sum(axis=2) > 700).mean() > 0.5


@needs_chromium
def test_console_errors_are_detected(tmp_path):
    """The negative control: a page with a console error and an uncaught exception is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><script>console.error("boom"); notDefined();</script></body></html>'
    )
    proc = _screenshot(page, tmp_path)
    bad = _problems(proc.stderr)
    assert any('"boom"' in ln for ln in bad), proc.stderr[-2000:]
    assert any("Uncaught ReferenceError: notDefined" in ln for ln in bad), proc.stderr[-2000:]
