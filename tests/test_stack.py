"""`make run` from a clean environment: the stack starts, serves a login, and Ctrl-C stops it all.

The launcher runs exactly as `make run` does (`python -m revops.devstack run`), with none of the
variables `make test` sets, its own port and its own VAR_DIR, so it starts a second embedded
PostgreSQL and Redis of its own and never touches the suite's database.
"""

import contextlib
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil  # installed with pgserver, which the launcher needs anyway
import pytest

from revops.tenancy.demo import DEMO_PASSWORD

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent
READY = "RevOps Hub is running at"
# A fresh VAR_DIR runs initdb, every migration and the demo seed: two organizations' 180 days,
# their metric snapshot and windows.
START_TIMEOUT = 240
STOP_TIMEOUT = 30
HTTP_TIMEOUT = 10

# What `make test` (or a developer's shell) may have set that a fresh `make run` would not have.
# DJANGO_* covers the secret key, allowed hosts, secure cookies, settings module and debug flag.
REMOVED = {"DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX", "HOST", "SITE_URL", "VAR_DIR", "PORT"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    """The `run` launcher in its own process group, its output drained by a thread.

    Draining matters: gunicorn and celery inherit the pipe, and would block once it filled.
    """

    def __init__(self, *, port: int, var_dir: Path):
        self.port = port
        self.var_dir = var_dir
        self.lines: list[str] = []
        self.ready = threading.Event()
        # Processes seen under the launcher; its children run in sessions of their own, so
        # killing the launcher's group alone would not reach them.
        self.seen: dict[int, psutil.Process] = {}
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("DJANGO_") and name not in REMOVED
        }
        env.update(PORT=str(port), VAR_DIR=str(var_dir))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "revops.devstack", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if READY in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.5):
            if self.process.poll() is not None:
                time.sleep(0.5)  # let the thread read the last lines
                pytest.fail(
                    f"`devstack run` exited with {self.process.returncode} before it was "
                    f"ready:\n{self.output}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"`devstack run` not ready within {timeout:.0f} s:\n{self.output}")

    def note_processes(self) -> None:
        """Remember every process of the stack, to prove (or make sure) they all end."""
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.seen[child.pid] = child
        except psutil.NoSuchProcess:
            pass
        for process in self._using_var_dir():
            self.seen[process.pid] = process

    def _using_var_dir(self) -> list[psutil.Process]:
        # PostgreSQL detaches through pg_ctl, and children outlive a launcher killed outright, so
        # descendants are not enough: also find whatever names our VAR_DIR or inherited it.
        found = []
        for process in psutil.process_iter(["cmdline", "environ"]):
            cmdline = process.info["cmdline"] or []
            environ = process.info["environ"] or {}
            if environ.get("VAR_DIR") == str(self.var_dir) or any(
                str(self.var_dir) in part for part in cmdline
            ):
                found.append(process)
        return found

    def survivors(self) -> list[str]:
        alive = [*self.seen.values(), *self._using_var_dir()]
        described = set()
        for process in alive:
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    described.add(f"{process.pid} {' '.join(process.cmdline())}")
            except psutil.NoSuchProcess:
                pass
        return sorted(described)

    def kill_everything(self) -> None:
        """Last resort on failure: nothing of this stack may outlive the test."""
        if self.process.poll() is None:
            self.note_processes()
            # SIGINT, not SIGTERM: the launcher cleans up after Ctrl-C in every phase.
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        for process in [*self.seen.values(), *self._using_var_dir()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(list(self.seen.values()), timeout=5)


def log_in(base_url: str, email: str, password: str) -> tuple[str, str]:
    """Log in through the real form, as a browser would; returns (final URL, page)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{base_url}/accounts/login/", timeout=HTTP_TIMEOUT) as response:
        form = response.read().decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert match, form
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match[1], "username": email, "password": password, "next": ""}
    ).encode()
    with opener.open(f"{base_url}/accounts/login/", data=data, timeout=HTTP_TIMEOUT) as response:
        return response.geturl(), response.read().decode()


def test_make_run_starts_the_stack_serves_a_login_and_stops_cleanly_on_ctrl_c():
    port = free_port()
    var_dir = ROOT / "var" / f"test-stack-{secrets.token_hex(4)}"
    var_dir.mkdir(parents=True)
    stack = Stack(port=port, var_dir=var_dir)
    try:
        stack.wait_until_ready(START_TIMEOUT)
        stack.note_processes()
        base_url = f"http://127.0.0.1:{port}"

        url, page = log_in(base_url, "admin@demo.revops", DEMO_PASSWORD)
        # The admin belongs to both demo organizations and lands in the first by slug.
        assert url in {f"{base_url}/o/acme/", f"{base_url}/o/globex/"}, (url, page)
        name = "Acme Analytics" if url.endswith("/o/acme/") else "Globex Europe"
        assert f"<h1>{name}</h1>" in page, page
        # The page is styled: the app serves its own static files under gunicorn (whitenoise).
        stylesheet = f"{base_url}/static/css/app.css"
        with urllib.request.urlopen(stylesheet, timeout=HTTP_TIMEOUT) as css:  # noqa: S310
            assert b".topbar" in css.read()

        stack.note_processes()
        os.killpg(stack.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            code = stack.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_TIMEOUT} s after Ctrl-C:\n{stack.output}")
        assert code == 0, stack.output
        assert "Traceback" not in stack.output, stack.output
        assert not port_accepts(port), f"port {port} still answers after the stack stopped"
        assert stack.survivors() == [], stack.output
    finally:
        stack.kill_everything()
        shutil.rmtree(var_dir, ignore_errors=True)
