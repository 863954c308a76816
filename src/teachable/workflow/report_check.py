"""Check a self-contained Snakemake report (`snakemake --report X.html`) renders.

Three checks (docs/figures.md):
1. every embedded PNG (the report's `results` table of data URIs) decodes and is not blank;
2. headless Chromium screenshots the landing page: not blank;
3. the report is a JS app without deep links, so a copy of it with one injected line that
   opens the first figure (what clicking its button does: app.setView({content: "img",
   ...})) is screenshotted too: not blank and different from the landing page; and the
   browser's DOM (--dump-dom) must show that figure's <img> loaded (naturalWidth > 0)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..io import InputError

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=15000")


def find_chromium() -> str:
    for name in ("/usr/bin/chromium", *CHROMIUM):
        path = shutil.which(name)
        if path:
            return path
    raise InputError("chromium not found: install it (Debian: apt-get install -y chromium)")


def read_image(data: bytes | str | Path) -> np.ndarray:
    """RGB float array in [0, 1] from PNG bytes or a path (PIL when present, else matplotlib)."""
    src = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    try:
        from PIL import Image

        with Image.open(src) as im:
            return np.asarray(im.convert("RGB"), dtype=float) / 255.0
    except ImportError:
        import matplotlib.image as mpimg

        return np.asarray(mpimg.imread(src, format="png"), dtype=float)[..., :3]


def nonwhite_fraction(img: np.ndarray, tol: float = 0.05) -> float:
    return float((img.min(axis=-1) < 1 - tol).mean())


def content_fraction(img: np.ndarray, tol: float = 0.02) -> float:
    """Share of pixels that differ from the page's most common colour (a blank page: ~0).
    Robust to light-grey panels, which a non-white count would miss."""
    q = np.round(img.reshape(-1, 3) * 255).astype(np.int32)
    codes = q[:, 0] * 65536 + q[:, 1] * 256 + q[:, 2]
    mode = np.bincount(codes).argmax()
    bg = np.array([mode // 65536, (mode // 256) % 256, mode % 256]) / 255.0
    return float((np.abs(img.reshape(-1, 3) - bg).max(axis=-1) > tol).mean())


def embedded_results(html: str, source: str = "report") -> dict:
    """The report's `var results = {...};` object (path -> entry with data_uri, mime_type)."""
    m = re.search(r'<script id="results">\s*var results = ', html)
    if not m:
        raise InputError(f"{source}: no embedded results table (not a Snakemake report?)")
    try:
        obj, _ = json.JSONDecoder().raw_decode(html, m.end())
    except json.JSONDecodeError as e:
        raise InputError(f"{source}: malformed results table ({e.msg})") from None
    return obj


def check_embedded_pngs(results: dict, min_fraction: float = 0.01) -> dict[str, float]:
    """Decode every embedded PNG; non-white fraction per file (error if blank or broken)."""
    out = {}
    for path, entry in results.items():
        if entry.get("mime_type") != "image/png":
            continue
        uri = entry.get("data_uri", "")
        _, sep, b64 = uri.partition("base64,")
        if not sep:
            raise InputError(f"embedded {path}: data URI is not base64")
        try:
            img = read_image(base64.b64decode(b64))
        except Exception as e:  # noqa: BLE001 - any decoder error means a broken image
            raise InputError(f"embedded {path}: PNG does not decode ({e})") from None
        frac = nonwhite_fraction(img)
        if frac < min_fraction:
            raise InputError(f"embedded {path}: blank image ({frac:.2%} non-white pixels)")
        out[path] = frac
    return out


def _chromium(html_path: Path, action: list[str], chromium: str | None, size, timeout: int):
    chromium = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *action,
               f"--window-size={size[0]},{size[1]}", Path(html_path).resolve().as_uri()]
        env = {**os.environ, "HOME": profile}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def screenshot(html_path: Path, out_png: Path, chromium: str | None = None, size=(1400, 1000),
               timeout: int = 120) -> None:
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    p = _chromium(html_path, [f"--screenshot={out_png}"], chromium, size, timeout)
    if p.returncode != 0 or not out_png.exists():
        raise InputError(f"chromium screenshot of {html_path} failed (exit {p.returncode}): {p.stderr[-2000:]}")


def rendered_screenshot(html_path: Path, out_png: Path, chromium: str | None = None,
                        min_fraction: float = 0.01, attempts: int = 3) -> tuple[np.ndarray, float]:
    """Screenshot until the page shows content, at most `attempts` times. Headless Chromium
    sometimes captures the report's JS app before its first paint on a loaded machine (seen
    in CI: one blank capture of a page that rendered in the call before), so a blank capture
    is retried; a page that stays blank on every attempt is reported blank."""
    for _ in range(attempts):
        screenshot(html_path, out_png, chromium)
        img = read_image(out_png)
        frac = content_fraction(img)
        if frac >= min_fraction:
            break
    return img, frac


def dump_dom(html_path: Path, chromium: str | None = None, size=(1400, 1000), timeout: int = 120) -> str:
    p = _chromium(html_path, ["--dump-dom"], chromium, size, timeout)
    if p.returncode != 0:
        raise InputError(f"chromium --dump-dom of {html_path} failed (exit {p.returncode}): {p.stderr[-2000:]}")
    return p.stdout


def figure_view_html(html: str, result_path: str) -> str:
    """The report with one injected script that opens `result_path` as its figure button does."""
    key = json.dumps(result_path)
    inject = ("<script>window.addEventListener('load', function () { setTimeout(function () {"
              f"app.setView({{content: 'img', contentPath: results[{key}].data_uri, resultPath: {key}}});"
              "setTimeout(function () { var im = document.querySelector('img[src^=\"data:image/png\"]');"
              "document.body.setAttribute('data-figure-check', im && im.complete && im.naturalWidth > 0 ?"
              " im.naturalWidth + 'x' + im.naturalHeight : 'failed'); }, 500);"
              "}, 300); });</script>")
    i = html.rfind("</body>")
    if i < 0:
        raise InputError("report: no </body> to inject the figure view into")
    return html[:i] + inject + html[i:]


def check_report(report_html, out_png, min_fraction: float = 0.01, chromium: str | None = None) -> dict:
    """Run the three checks; write OUT.png (landing page) and OUT_figure.png (first figure)."""
    report_html = Path(report_html)
    if not report_html.exists():
        raise InputError(f"{report_html}: file not found")
    html = report_html.read_text()
    results = embedded_results(html, str(report_html))
    pngs = check_embedded_pngs(results, min_fraction)
    if not pngs:
        raise InputError(f"{report_html}: no embedded PNG figure")
    out_png = Path(out_png)
    landing, landing_frac = rendered_screenshot(report_html, out_png, chromium, min_fraction)
    if landing_frac < min_fraction:
        raise InputError(f"{out_png}: the report's landing page rendered blank ({landing_frac:.2%} pixels off the background colour)")
    first = sorted(pngs)[0]
    fig_png = out_png.with_name(out_png.stem + "_figure.png")
    with tempfile.TemporaryDirectory(prefix="report-view-") as tmp:
        view = Path(tmp) / "view.html"
        view.write_text(figure_view_html(html, first))
        fig_img, fig_frac = rendered_screenshot(view, fig_png, chromium, min_fraction)
        m = re.search(r'data-figure-check="([^"]*)"', dump_dom(view, chromium))
    loaded = m.group(1) if m else None
    if not loaded or loaded == "failed":
        raise InputError(f"{report_html}: the browser did not load the <img> of {first} in the figure view "
                         f"(check: {loaded})")
    changed = float(np.abs(fig_img - landing).max(axis=-1).__gt__(0.1).mean()) if fig_img.shape == landing.shape else 1.0
    if fig_frac < min_fraction:
        raise InputError(f"{fig_png}: the figure view of {first} rendered blank ({fig_frac:.2%} pixels off the background colour)")
    if changed < 0.005:
        raise InputError(f"{fig_png}: opening {first} did not change the page ({changed:.2%} pixels changed)")
    return {"report": str(report_html), "embedded_png": pngs, "landing_png": str(out_png),
            "landing_content": landing_frac, "figure": first, "figure_png": str(fig_png),
            "figure_content": fig_frac, "figure_img_size": loaded, "figure_changed_fraction": changed}
