"""The HTML report rendered in headless Chromium: visible text, colours, screenshot size.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
commands on fd 3, replies on fd 4, NUL-terminated JSON), so no network port and
no extra Python package is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from coverage_demo import M

from activerules.coverage import build_report, render

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-pipe", "--hide-scrollbars"]
WIDTH, HEIGHT = 1280, 900
# argv: fd-in fd-out binary args...: put the pipe ends on fds 3 and 4, then exec the browser
_WIRE = ("import os, sys; i, o = int(sys.argv[1]), int(sys.argv[2]); os.dup2(i, 3); os.dup2(o, 4); "
         "os.close(i); os.close(o); os.execv(sys.argv[3], sys.argv[3:])")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed: .ci/run installs it (apt-get install chromium)")
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)")


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        # Pipe ends for Chromium, moved above fd 10 so that putting them on 3 and 4 cannot
        # clobber one another; a tiny Python wrapper does that and becomes Chromium (a
        # preexec_fn would make subprocess fork a threaded test process, which is unsafe).
        chrome_in, self._to_chrome = os.pipe()
        self._from_chrome, chrome_out = os.pipe()
        high_in, high_out = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (chrome_in, chrome_out))
        for fd in (chrome_in, chrome_out):
            os.close(fd)
        self.proc = subprocess.Popen([sys.executable, "-c", _WIRE, str(high_in), str(high_out), binary,
                                      *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     pass_fds=(high_in, high_out), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(high_in)
        os.close(high_out)
        self._buffer = b""
        self._next_id = 0
        self.session: str | None = None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the attached page when there is one) and wait for its reply."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]  # type: ignore[no-any-return]

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the debugging pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)  # type: ignore[no-any-return]

    def open(self, url: str) -> None:
        """Open ``url`` in a new page, attach to it, and wait until it has loaded."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.navigate", url=url)
        while True:  # the load event arrives on the pipe; a dead browser ends the loop with an error
            event = self._read()
            if event.get("method") == "Page.loadEventFired":
                return

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]

    def screenshot(self) -> bytes:
        """A PNG of the whole page (beyond the viewport)."""
        height = self.evaluate("document.documentElement.scrollHeight")
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        finally:
            os.close(self._to_chrome)
            os.close(self._from_chrome)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])  # type: ignore[return-value]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from coverage_demo import make_registry

    tmp = tmp_path_factory.mktemp("html")
    reg = make_registry()
    names = [f"{M}.{n}" for n in ("scale", "tied", "only_dup", "shape_of")]
    html = render(build_report(names=names, plugins=False, reg=reg), "html")
    path = tmp / "coverage.html"
    path.write_text(html, encoding="utf-8")
    browser = DevTools(_chromium(), tmp / "profile")
    try:
        browser.open(path.as_uri())
        yield browser, html, tmp
    finally:
        browser.close()


def test_page_is_self_contained(page):
    _, html, _ = page
    assert "<script" not in html and "src=" not in html and "@import" not in html and "url(" not in html


def test_visible_text_shows_summary_functions_and_classes(page):
    browser, _, _ = page
    text = browser.evaluate("document.body.innerText")
    assert "activerules rule coverage" in text
    assert "4 functions (1 inactive)" in text and "FAILED:" in text
    for name in ("scale", "tied", "only_dup", "shape_of"):
        assert f"{M}.{name}" in text
    assert "exact" in text and "+10" in text and "ambiguous" in text and "no rule" in text
    assert "Functions with problems:" in text
    assert "served by" not in text  # the detail tables stay collapsed until opened


def test_cells_are_colour_coded(page):
    browser, _, _ = page
    colours = browser.evaluate(
        "Object.fromEntries(['exact', 'fallback', 'wasteful', 'ambiguous', 'unresolved', 'na'].map("
        "c => [c, getComputedStyle(document.querySelector('.grid td.' + c)).backgroundColor]))")
    assert colours["exact"] == "rgb(185, 228, 193)" and colours["unresolved"] == "rgb(246, 179, 179)"
    assert len(set(colours.values())) == 6
    opened = browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true); "
                              "document.body.innerText.includes('served by')")
    assert opened


def test_screenshot_has_the_page_size(page):
    browser, _, tmp = page
    png = browser.screenshot()
    (tmp / "coverage.png").write_bytes(png)
    width, height = _png_size(png)
    assert width == WIDTH and height > 600
    assert len(png) > 20_000  # a rendered page, not a blank image
