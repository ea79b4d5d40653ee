"""The sweep's promises, on the real database: racing sweeps (threads and processes), a sweep
killed before or after commit, late sweeps, a row that cannot be evaluated, and delivery to a
real HTTP server.

Clocks are controlled with `now=`. The instants are in 2041, after any real clock this suite runs
under: the session's Celery worker (started by another test) delivers with the real clock, so it
never takes these tests' outbox rows from under them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection, connections

from leads import services as lead_services
from leads.models import Lead, Reason, ReasonKind, SalesRep, Stage
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Organization, Role, User
from sla import outbox, services
from sla.models import (
    BusinessCalendar,
    Channel,
    DeliveryState,
    EventKind,
    Notification,
    OutboxMessage,
    SlaEvent,
    SlaKind,
    SlaTimer,
    TimerState,
    TimerTarget,
    WebhookEndpoint,
    WebhookFormat,
)
from sla.sweep import QUARANTINE, SweepReport, _sweep_batch, sweep, sweep_lag
from tests.sla.base import QUALIFYING, SlaTestCase, sql_handed_off

ROOT = Path(__file__).resolve().parents[2]
CHICAGO = ZoneInfo("America/Chicago")
# Monday 7 January 2041, 10:00 in Chicago: inside business hours; one business hour later is due.
MONDAY_10 = datetime(2041, 1, 7, 10, 0, tzinfo=CHICAGO)
SECRET = "whsec-test-0123456789"


# --- building organizations and SQLs through the services ---------------------------------------


@dataclass
class Team:
    organization: Organization
    admin: User
    rep: User
    manager: User

    @property
    def people(self) -> set[int]:
        """Who a follow-up breach notifies by default: the owner, their manager, the admins."""
        return {self.admin.pk, self.rep.pk, self.manager.pk}


def member_add(email: str, name: str, role: str) -> User:
    # Nobody logs in here: no password spares the deliberately slow hashing (~0.3 s a user).
    user = tenancy_services.user_create(email=email, password=None, full_name=name)
    tenancy_services.membership_add(user=user, role=role)
    return user


def team_create(slug: str, *, timezone_name: str = "America/Chicago",
                webhook_url: str | None = None) -> Team:  # fmt: skip
    """An organization with an admin, one sales rep taking leads, and the rep's manager."""
    organization = tenancy_services.organization_create(
        name=slug.title(), slug=slug, timezone_name=timezone_name
    )
    with organization_scope(organization):
        admin = member_add(f"admin@{slug}.test", "Ada Admin", Role.ADMIN)
        rep = member_add(f"rep@{slug}.test", "Rex Rep", Role.SALES)
        manager = member_add(f"manager@{slug}.test", "Max Manager", Role.SALES)
        SalesRep.objects.create(user=rep, manager=manager)
        if webhook_url:
            WebhookEndpoint.objects.create(
                name="Ops", url=webhook_url, format=WebhookFormat.GENERIC, secret=SECRET
            )
    return Team(organization, admin, rep, manager)


def hand_off(team: Team, *, at: datetime, name: str) -> Lead:
    """A lead becomes an SQL and is assigned to the rep: the follow-up clock starts at `at`."""
    with organization_scope(team.organization):
        lead = sql_handed_off(actor=team.admin, at=at, name=name)
    assert (lead.stage, lead.owner_id) == (Stage.SQL, team.rep.pk)
    return lead


def hand_off_many(team: Team, count: int, *, at: datetime) -> list[int]:
    """`count` SQLs at once through the bulk intake (a zero score threshold makes them MQLs)."""
    with organization_scope(team.organization):
        lead_services.policy_create_version(actor=team.admin, mql_score_threshold=0)
        rows = [
            {"full_name": f"Lead {i}", "email": f"lead{i}@{team.organization.slug}.test",
             **QUALIFYING}
            for i in range(count)
        ]  # fmt: skip
        results = lead_services.leads_bulk_upsert(actor=team.admin, rows=rows, now=at)
        assert [r.status for r in results] == ["created"] * count
        timers = list(
            SlaTimer.objects.filter(state=TimerState.RUNNING).values_list("pk", flat=True)
        )
    assert len(timers) == count
    return timers


def assert_recorded_once(teams: list[Team], timer_ids: list[int], *, endpoints: int) -> None:
    """One breach per timer, one notification per recipient per breach, one email per recipient
    address and one webhook per endpoint per breach."""
    timers = SlaTimer.objects.unscoped().filter(pk__in=timer_ids)
    assert timers.filter(state=TimerState.BREACHED).count() == len(timer_ids)
    breaches = SlaEvent.objects.unscoped().filter(kind=EventKind.BREACH)
    per_timer = Counter(breaches.values_list("timer_id", flat=True))
    assert per_timer == Counter(timer_ids)
    people = {t.organization.pk: t.people for t in teams}
    notified = defaultdict(list)
    for event_id, user_id in Notification.objects.unscoped().values_list("event_id", "user_id"):
        notified[event_id].append(user_id)
    emails = defaultdict(list)
    webhooks = Counter()
    for event_id, channel, recipient in OutboxMessage.objects.unscoped().values_list(
        "event_id", "channel", "recipient"
    ):
        if channel == Channel.EMAIL:
            emails[event_id].append(recipient)
        else:
            webhooks[event_id] += 1
    for event in breaches:
        expected = people[event.organization_id]
        assert sorted(notified[event.pk]) == sorted(expected)
        addresses = set(User.objects.filter(pk__in=expected).values_list("email", flat=True))
        assert sorted(emails[event.pk]) == sorted(addresses)
        assert webhooks[event.pk] == endpoints
    assert len(notified) == len(emails) == len(timer_ids)


# --- other processes on the same test database --------------------------------------------------

SCRIPT = """
import json, os, signal, sys, time
import django
django.setup()
from datetime import datetime
from django.db import connection, transaction
from sla import outbox
from sla.sweep import SweepReport, _sweep_batch, sweep

mode, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])

def say(**values):
    print(json.dumps(values), flush=True)

def backend():
    connection.ensure_connection()
    return connection.connection.info.backend_pid

if mode == "race":
    go = sys.argv[3]
    say(ready=True, backend=backend())
    while not os.path.exists(go):
        time.sleep(0.001)
    say(**sweep(now, batch=int(sys.argv[4])).as_dict())
elif mode == "die-before-commit":
    with transaction.atomic():
        report = SweepReport()
        claimed = _sweep_batch(now, 1000, report)
        say(claimed=claimed, breaches=report.breaches, backend=backend())
        os.kill(os.getpid(), signal.SIGKILL)
elif mode == "die-after-commit":
    report = SweepReport()
    claimed = _sweep_batch(now, 1000, report)
    say(claimed=claimed, breaches=report.breaches, backend=backend())
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "die-mid-send":
    messages = outbox.claim(now, 100)
    say(claimed=len(messages), backend=backend())
    os.kill(os.getpid(), signal.SIGKILL)
"""


def subprocess_env() -> dict[str, str]:
    """This process's environment, with DATABASE_URL naming the test database."""
    env = dict(os.environ)
    url = urllib.parse.urlsplit(env["DATABASE_URL"])
    env["DATABASE_URL"] = url._replace(path="/" + connection.settings_dict["NAME"]).geturl()
    env.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")
    return env


def script(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args], env=subprocess_env(), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_until_killed(*args: str) -> dict:
    """Run the script to its SIGKILL; return what it said, once its connection is gone."""
    process = script(*args)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr
    said = json.loads(stdout.strip().splitlines()[-1])
    wait_until_backend_gone(said["backend"])
    return said


def wait_until_backend_gone(pid: int, timeout: float = 10) -> None:
    """PostgreSQL rolls a dead client's transaction back (and frees its locks) when it notices
    the closed socket; wait for that rather than racing it."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
            assert time.monotonic() < deadline, f"backend {pid} outlived its client"
            time.sleep(0.02)


# --- a real HTTP server to deliver webhooks to --------------------------------------------------


@dataclass
class Received:
    path: str
    headers: Message
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (a random port) recording every POST. `answer(path, 500, ...)`
    queues the statuses the next requests to `path` get; otherwise it answers 200."""

    def __init__(self):
        self.requests: list[Received] = []
        self._answers: dict[str, deque[int]] = defaultdict(deque)
        self._always: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, self.headers, body))
                    queued = receiver._answers[self.path]
                    status = queued.popleft() if queued else receiver._always.get(self.path, 200)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, path: str, *statuses: int, always: int | None = None) -> None:
        with self._lock:
            self._answers[path].extend(statuses)
            if always is not None:
                self._always[path] = always

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def verify_signature(received: Received, secret: str) -> None:
    """What a receiver does: recompute HMAC-SHA256 of "<t>.<raw body>" and compare."""
    parts = dict(item.split("=", 1) for item in received.headers["X-RevOps-Signature"].split(","))
    signed = f"{parts['t']}.".encode() + received.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    # A different secret (or a changed body) does not verify.
    forged = hmac.new(b"another secret", signed, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(parts["v1"], forged)


# --- 1. exactly once under racing sweeps ---------------------------------------------------------


def test_breaches_are_recorded_once_when_threads_and_processes_sweep_at_the_same_time(
    transactional_db, tmp_path
):
    teams = [team_create(s, webhook_url="http://127.0.0.1:9/never") for s in ("race-a", "race-b")]
    timer_ids = [pk for team in teams for pk in hand_off_many(team, 100, at=MONDAY_10)]
    now = MONDAY_10 + timedelta(hours=3)
    # Small batches, so the sweepers interleave batch by batch instead of one taking it all.
    batch = 10
    go_file = tmp_path / "go"
    processes = [script("race", now.isoformat(), str(go_file), str(batch)) for _ in range(3)]
    go = threading.Event()
    reports: list[dict] = []
    errors: list[BaseException] = []

    def sweeper():
        try:
            go.wait(30)
            reports.append(sweep(now, batch=batch).as_dict())
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for process in processes:
            line = process.stdout.readline()
            assert line, process.communicate(timeout=10)[1]
            assert json.loads(line)["ready"]
        go_file.touch()
        go.set()
        for thread in threads:
            thread.join(60)
        for process in processes:
            stdout, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        go.set()
        go_file.unlink(missing_ok=True)
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert not errors
    assert len(reports) == 7
    # Each breach was claimed by exactly one of the seven sweepers...
    assert sum(r["breaches"] for r in reports) == len(timer_ids)
    assert all(r["failed"] == [] for r in reports)
    # ...and recorded, notified and outboxed exactly once.
    assert_recorded_once(teams, timer_ids, endpoints=1)
    assert sweep(now + timedelta(minutes=1)).breaches == 0
    assert SlaEvent.objects.unscoped().filter(kind=EventKind.BREACH).count() == len(timer_ids)


# --- 2. a sweep killed between claim and commit, or between commit and delivery -----------------


def test_a_sweep_killed_before_commit_records_nothing_and_the_next_records_everything_once(
    transactional_db,
):
    team = team_create("killed", webhook_url="http://127.0.0.1:9/never")
    timer_ids = hand_off_many(team, 20, at=MONDAY_10)
    now = MONDAY_10 + timedelta(hours=2)
    said = run_until_killed("die-before-commit", now.isoformat())
    # It did claim and record them all in its transaction; none of it survived the kill.
    assert (said["claimed"], said["breaches"]) == (20, 20)
    timers = SlaTimer.objects.unscoped()
    assert timers.filter(state=TimerState.RUNNING).count() == 20
    assert not SlaEvent.objects.unscoped().filter(kind=EventKind.BREACH).exists()
    assert not Notification.objects.unscoped().exists()
    assert not OutboxMessage.objects.unscoped().exists()
    report = sweep(now + timedelta(minutes=1))
    assert (report.breaches, report.failed) == (20, [])
    assert_recorded_once([team], timer_ids, endpoints=1)
    # Dated at the deadline, not at the sweep that finally recorded them.
    assert set(timers.values_list("breached_at", flat=True)) == {MONDAY_10 + timedelta(hours=1)}


def test_a_sweep_killed_after_commit_leaves_its_messages_to_the_next_delivery_once(
    transactional_db, receiver
):
    team = team_create("committed", webhook_url=receiver.url("/hook"))
    timer_ids = hand_off_many(team, 5, at=MONDAY_10)
    now = MONDAY_10 + timedelta(hours=2)
    said = run_until_killed("die-after-commit", now.isoformat())
    assert (said["claimed"], said["breaches"]) == (5, 5)
    assert_recorded_once([team], timer_ids, endpoints=1)
    messages = OutboxMessage.objects.unscoped()
    assert messages.count() == 5 * 4  # three people's emails and one webhook per breach
    assert set(messages.values_list("state", flat=True)) == {DeliveryState.PENDING}
    # The next sweep finds nothing more to record; the next delivery sends each message once.
    assert sweep(now + timedelta(minutes=1)).breaches == 0
    report = outbox.deliver_due(now + timedelta(minutes=1))
    assert (report.sent, report.retrying, report.failed) == (20, 0, 0)
    assert set(messages.values_list("state", flat=True)) == {DeliveryState.SENT}
    events = Counter(r.headers["X-RevOps-Event"] for r in receiver.received("/hook"))
    expected = Counter(
        f"evt_{pk}"
        for pk in SlaEvent.objects.unscoped()
        .filter(kind=EventKind.BREACH)
        .values_list("pk", flat=True)
    )
    assert events == expected
    assert Counter(m.to[0] for m in mail.outbox) == Counter(
        {team.admin.email: 5, team.rep.email: 5, team.manager.email: 5}
    )
    assert outbox.deliver_due(now + timedelta(hours=1)).sent == 0
    assert len(receiver.received()) == 5 and len(mail.outbox) == 15


def test_a_message_whose_sender_died_is_sent_again_only_after_its_lease_expires(
    transactional_db, receiver
):
    team = team_create("lease", webhook_url=receiver.url("/hook"))
    hand_off(team, at=MONDAY_10, name="Ada")
    now = MONDAY_10 + timedelta(hours=2)
    assert sweep(now).breaches == 1
    messages = OutboxMessage.objects.unscoped()
    assert messages.count() == 4
    # A worker takes them all, then dies before sending any.
    said = run_until_killed("die-mid-send", now.isoformat())
    assert said["claimed"] == 4
    assert set(messages.values_list("state", "attempts")) == {(DeliveryState.SENDING, 1)}
    # While the dead worker's lease lasts, a second worker does not take its messages.
    live = outbox.deliver_due(now + outbox.LEASE - timedelta(seconds=1))
    assert (live.sent, live.retrying, live.failed) == (0, 0, 0)
    assert receiver.received() == [] and mail.outbox == []
    # Once it expires they are re-claimed and sent, once.
    expired = outbox.deliver_due(now + outbox.LEASE)
    assert expired.sent == 4
    assert set(messages.values_list("state", "attempts")) == {(DeliveryState.SENT, 2)}
    assert len(receiver.received("/hook")) == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [team.admin.email, team.rep.email, team.manager.email]
    )
    assert outbox.deliver_due(now + timedelta(hours=1)).sent == 0


def test_concurrent_deliverers_send_each_message_once(transactional_db, receiver):
    team = team_create("deliver", webhook_url=receiver.url("/hook"))
    hand_off_many(team, 30, at=MONDAY_10)
    now = MONDAY_10 + timedelta(hours=2)
    assert sweep(now).breaches == 30
    total = OutboxMessage.objects.unscoped().count()
    assert total == 30 * 4
    go = threading.Event()
    sent: list[int] = []

    def deliverer():
        # Small batches, again and again, until a claim finds nothing left to take.
        try:
            go.wait(10)
            while (report := outbox.deliver_due(now + timedelta(minutes=1), limit=5)).sent:
                sent.append(report.sent)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliverer) for _ in range(4)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(60)
    assert sum(sent) == total
    assert OutboxMessage.objects.unscoped().exclude(state=DeliveryState.SENT).count() == 0
    webhook_events = Counter(r.headers["X-RevOps-Event"] for r in receiver.received("/hook"))
    assert len(webhook_events) == 30 and set(webhook_events.values()) == {1}
    assert len(mail.outbox) == 90
    assert len({(m.to[0], m.extra_headers["X-RevOps-Event"]) for m in mail.outbox}) == 90


# --- 3. late sweeps and sweep lag ---------------------------------------------------------------


class SweepTestCase(SlaTestCase):
    def follow_up(self, lead: Lead) -> SlaTimer:
        return SlaTimer.objects.get(lead=lead, target=TimerTarget.FOLLOW_UP)


class LateSweepTests(SweepTestCase):
    def test_a_sweep_after_downtime_catches_up_every_breach_dated_at_its_deadline(self):
        # Three hand-offs hours apart on Monday; the sweep is down until Tuesday noon.
        starts = [MONDAY_10, MONDAY_10 + timedelta(hours=3), MONDAY_10 + timedelta(hours=6.5)]
        leads = [self.hand_off(at, f"Lead{i}") for i, at in enumerate(starts)]
        report = sweep(MONDAY_10 + timedelta(days=1, hours=2))
        assert (report.breaches, report.warnings, report.failed) == (3, 0, [])
        assert report.lag_seconds == 0
        for lead in leads:
            timer = self.follow_up(lead)
            assert timer.state == TimerState.BREACHED
            assert timer.breached_at == timer.due_at
            assert SlaEvent.objects.get(timer=timer, kind=EventKind.BREACH).at == timer.due_at
            # The warning's deadline passed too: it is skipped in favour of the breach.
            assert timer.warned_at is None
            assert not SlaEvent.objects.filter(timer=timer, kind=EventKind.WARNING).exists()
        # 16:30 + 1 business hour runs over the 17:00 close: due Tuesday 09:30.
        assert self.follow_up(leads[2]).due_at == datetime(2041, 1, 8, 9, 30, tzinfo=CHICAGO)
        assert [self.follow_up(lead).due_at for lead in leads[:2]] == [
            MONDAY_10 + timedelta(hours=1),
            MONDAY_10 + timedelta(hours=4),
        ]

    def test_met_before_due_is_never_a_breach_however_late_the_sweep(self):
        lead = self.hand_off(MONDAY_10, "Ada")
        lead_services.touch_log(lead=lead, actor=self.bob, kind="call",
                                at=MONDAY_10 + timedelta(minutes=59))  # fmt: skip
        for days in (1, 7, 30):
            assert sweep(MONDAY_10 + timedelta(days=days)).breaches == 0
        timer = self.follow_up(lead)
        assert (timer.state, timer.breached_at, timer.met_at) == (
            TimerState.MET, None, MONDAY_10 + timedelta(minutes=59)
        )  # fmt: skip
        assert not SlaEvent.objects.filter(kind__in=[EventKind.WARNING, EventKind.BREACH]).exists()

    def test_closed_timers_are_never_recomputed_by_sweeps_or_rebases(self):
        met = self.follow_up(self.hand_off(MONDAY_10, "Met"))
        rejected = self.hand_off(MONDAY_10, "Rejected")
        running = self.follow_up(self.hand_off(MONDAY_10, "Running"))
        lead_services.touch_log(lead=met.lead, actor=self.bob, kind="email",
                                at=MONDAY_10 + timedelta(minutes=20))  # fmt: skip
        lead_services.lead_reject(
            lead=rejected, actor=self.bob, now=MONDAY_10 + timedelta(minutes=30),
            reason_id=Reason.objects.filter(kind=ReasonKind.REJECTION).first().pk,
        )  # fmt: skip
        cancelled = self.follow_up(rejected)
        assert cancelled.state == TimerState.CANCELLED
        columns = [f.attname for f in SlaTimer._meta.concrete_fields]
        closed_before = list(
            SlaTimer.objects.filter(pk__in=[met.pk, cancelled.pk]).order_by("pk").values(*columns)
        )
        events_before = SlaEvent.objects.filter(timer__in=[met, cancelled]).count()
        # A rebase onto a slower policy, then sweeps long after every deadline.
        policy = services.policy_create_version(
            kind=SlaKind.FOLLOW_UP, actor=self.alice, target_minutes=240, rebase_running=True,
            now=MONDAY_10 + timedelta(minutes=40),
        )  # fmt: skip
        assert policy.rebased_count == 1
        sweep(MONDAY_10 + timedelta(hours=2))
        sweep(MONDAY_10 + timedelta(days=3))
        closed_after = list(
            SlaTimer.objects.filter(pk__in=[met.pk, cancelled.pk]).order_by("pk").values(*columns)
        )
        assert closed_after == closed_before
        assert SlaEvent.objects.filter(timer__in=[met, cancelled]).count() == events_before
        # The running one was rebased (4 business hours: due 14:00) and then breached.
        running.refresh_from_db()
        assert (running.policy, running.state) == (policy, TimerState.BREACHED)
        assert running.breached_at == MONDAY_10 + timedelta(hours=4)

    def test_the_lag_is_the_age_of_the_oldest_check_still_due(self):
        starts = [MONDAY_10 + timedelta(minutes=m) for m in (0, 10, 20, 30, 40)]
        timers = [self.follow_up(self.hand_off(at, f"Lag{i}")) for i, at in enumerate(starts)]
        now = MONDAY_10 + timedelta(hours=3)
        assert sweep_lag(now) == (now - timers[0].warn_at).total_seconds()
        # One batch smaller than the backlog leaves the later ones due: the lag shows it.
        report = SweepReport()
        assert _sweep_batch(now, 2, report) == 2
        assert report.breaches == 2
        assert sweep_lag(now) == (now - timers[2].warn_at).total_seconds() > 0
        # A whole sweep (batch after batch) catches up.
        full = sweep(now, batch=2)
        assert (full.breaches, full.lag_seconds) == (3, 0)


def test_a_sweep_reports_lag_when_another_sweep_holds_due_rows(transactional_db):
    team = team_create("lagging")
    hand_off(team, at=MONDAY_10, name="Early")
    hand_off(team, at=MONDAY_10 + timedelta(minutes=30), name="Late")
    now = MONDAY_10 + timedelta(hours=3)
    with organization_scope(team.organization):
        early = SlaTimer.objects.get(lead__full_name="Early")
    locked, release = threading.Event(), threading.Event()

    def other_sweep():
        # Another sweep's transaction holding the oldest due row.
        from django.db import transaction

        try:
            with transaction.atomic():
                list(SlaTimer.objects.unscoped().select_for_update().filter(pk=early.pk))
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_sweep)
    thread.start()
    try:
        assert locked.wait(20)
        report = sweep(now)
    finally:
        release.set()
        thread.join(20)
    # It skipped the locked row instead of waiting, recorded the other, and says it is behind.
    assert report.breaches == 1
    assert report.lag_seconds == (now - early.next_check_at).total_seconds() > 0
    assert sweep(now).breaches == 1
    assert SlaEvent.objects.unscoped().filter(kind=EventKind.BREACH).count() == 2


# --- 4. a row that fails evaluation ---------------------------------------------------------------


class QuarantineTests(SweepTestCase):
    def test_a_timer_that_cannot_be_evaluated_is_set_aside_and_the_others_recorded(self):
        bad = [self.hand_off(MONDAY_10, "Bad1"), self.hand_off(MONDAY_10, "Bad2")]
        # In the same organization: feedback clocks run on the 24/7 calendar, which stays valid.
        reason = Reason.objects.filter(kind=ReasonKind.REJECTION).first()
        rejected = self.hand_off(MONDAY_10, "Rejected")
        lead_services.lead_reject(lead=rejected, actor=self.bob, reason_id=reason.pk,
                                  now=MONDAY_10)  # fmt: skip
        with organization_scope(self.org_b):
            dora = member_add("dora@b.test", "Dora Sales", Role.SALES)
            SalesRep.objects.create(user=dora)
            other = sql_handed_off(actor=self.charlie, at=MONDAY_10, name="Other")
            other_timer = SlaTimer.objects.get(lead=other)
        # Someone broke organization A's office-hours calendar behind the services' back.
        BusinessCalendar.objects.unscoped().filter(
            organization=self.org_a, name=services.BUSINESS_HOURS
        ).update(timezone="Mars/Olympus")
        bad_ids = sorted(self.follow_up(lead).pk for lead in bad)

        now = MONDAY_10 + timedelta(hours=49)
        report = sweep(now)
        assert sorted(report.failed) == bad_ids
        # Organization B's breach and A's feedback breach are recorded all the same.
        assert report.breaches == 2
        with organization_scope(self.org_b):
            assert SlaTimer.objects.get(pk=other_timer.pk).state == TimerState.BREACHED
        acknowledge = SlaTimer.objects.get(lead=rejected, target=TimerTarget.ACKNOWLEDGE)
        assert acknowledge.state == TimerState.BREACHED
        for pk in bad_ids:
            timer = SlaTimer.objects.get(pk=pk)
            assert (timer.state, timer.next_check_at) == (TimerState.RUNNING, now + QUARANTINE)
            assert not SlaEvent.objects.filter(timer=timer, kind=EventKind.BREACH).exists()
            assert not OutboxMessage.objects.filter(event__timer=timer).exists()
        assert report.lag_seconds == 0

        # The next tick does not crash-loop on them: they are not due again for five minutes.
        tick = sweep(now + timedelta(minutes=1))
        assert (tick.breaches, tick.failed) == (0, [])
        retry = sweep(now + QUARANTINE)
        assert sorted(retry.failed) == bad_ids and retry.breaches == 0
        assert SlaTimer.objects.get(pk=bad_ids[0]).next_check_at == now + 2 * QUARANTINE

        # Once the calendar is repaired, the breaches are recorded, dated at their deadline.
        BusinessCalendar.objects.filter(name=services.BUSINESS_HOURS).update(
            timezone="America/Chicago"
        )
        repaired = sweep(now + 2 * QUARANTINE)
        assert (repaired.breaches, repaired.failed) == (2, [])
        for pk in bad_ids:
            event = SlaEvent.objects.get(timer_id=pk, kind=EventKind.BREACH)
            assert event.at == MONDAY_10 + timedelta(hours=1)


# --- 5. webhooks to a real HTTP server ------------------------------------------------------------


class WebhookDeliveryTests(SweepTestCase):
    def setUp(self):
        super().setUp()
        self.receiver = WebhookReceiver().__enter__()
        self.addCleanup(self.receiver.__exit__, None, None, None)

    def endpoint(self, name: str, format: str, path: str, secret: str = "") -> WebhookEndpoint:
        return WebhookEndpoint.objects.create(
            name=name, url=self.receiver.url(path), format=format, secret=secret
        )

    def breach(self) -> tuple[SlaEvent, datetime]:
        self.hand_off(MONDAY_10, "Ada")
        now = MONDAY_10 + timedelta(hours=2)
        assert sweep(now).breaches == 1
        return SlaEvent.objects.get(kind=EventKind.BREACH), now

    def test_slack_and_signed_generic_webhooks_reach_a_real_http_server(self):
        self.endpoint("Slack", WebhookFormat.SLACK, "/slack")
        self.endpoint("Ops", WebhookFormat.GENERIC, "/generic", secret=SECRET)
        event, now = self.breach()
        report = outbox.deliver_due(now)
        assert (report.sent, report.retrying) == (5, 0)  # two webhooks, three emails
        [slack] = self.receiver.received("/slack")
        [generic] = self.receiver.received("/generic")
        for received in (slack, generic):
            assert received.headers["Content-Type"] == "application/json"
            assert received.headers["X-RevOps-Event"] == f"evt_{event.pk}"
        # Slack: only a text, with the title and a link back; no signature.
        document = slack.json
        assert list(document) == ["text"]
        assert document["text"].startswith(":rotating_light: *Follow-up SLA breached: Ada")
        assert "/acme-test/" in document["text"]
        assert "X-RevOps-Signature" not in slack.headers
        # Generic: the whole event, signed with the endpoint's secret.
        verify_signature(generic, SECRET)
        payload = generic.json
        timer = event.timer
        assert payload["id"] == f"evt_{event.pk}"
        assert payload["type"] == "sla.breach"
        assert payload["organization"] == "acme-test"
        assert datetime.fromisoformat(payload["occurred_at"]) == timer.due_at
        assert datetime.fromisoformat(payload["timer"]["due_at"]) == timer.due_at
        assert payload["timer"]["owner"] == "bob@a.test"
        assert payload["policy"] == {"kind": "follow_up", "version": 1}
        assert set(OutboxMessage.objects.values_list("state", flat=True)) == {DeliveryState.SENT}

    def test_a_server_error_is_retried_with_backoff_then_delivered_once(self):
        self.endpoint("Ops", WebhookFormat.GENERIC, "/generic", secret=SECRET)
        self.receiver.answer("/generic", 500)
        _event, now = self.breach()
        first = outbox.deliver_due(now)
        assert (first.sent, first.retrying) == (3, 1)  # the emails went; the webhook waits
        message = OutboxMessage.objects.get(channel=Channel.WEBHOOK)
        assert (message.state, message.attempts) == (DeliveryState.PENDING, 1)
        assert message.next_attempt_at == now + outbox.backoff(1) > now
        assert "500" in message.last_error
        # Not before its time...
        assert outbox.deliver_due(message.next_attempt_at - timedelta(seconds=1)).sent == 0
        # ...then it goes through.
        second = outbox.deliver_due(message.next_attempt_at)
        assert (second.sent, second.retrying) == (1, 0)
        message.refresh_from_db()
        assert (message.state, message.attempts, message.last_error) == (DeliveryState.SENT, 2, "")
        attempts = self.receiver.received("/generic")
        assert len(attempts) == 2
        assert attempts[0].body == attempts[1].body
        verify_signature(attempts[1], SECRET)
        assert outbox.deliver_due(now + timedelta(days=1)).sent == 0
        assert len(self.receiver.received("/generic")) == 2

    def test_delivery_gives_up_after_the_last_attempt(self):
        self.endpoint("Down", WebhookFormat.SLACK, "/down")
        self.receiver.answer("/down", always=500)
        _event, now = self.breach()
        message = OutboxMessage.objects.get(channel=Channel.WEBHOOK)
        at, waits = now, []
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.deliver_due(at)
            message.refresh_from_db()
            waits.append(message.next_attempt_at - at)
            at = message.next_attempt_at
        assert (message.state, message.attempts) == (DeliveryState.FAILED, outbox.MAX_ATTEMPTS)
        # Exponential backoff between the attempts.
        assert waits[:-1] == [outbox.backoff(n) for n in range(1, outbox.MAX_ATTEMPTS)]
        assert waits[0] < waits[1] < waits[2]
        assert len(self.receiver.received("/down")) == outbox.MAX_ATTEMPTS
        assert outbox.deliver_due(at + timedelta(days=7)).sent == 0
        assert len(self.receiver.received("/down")) == outbox.MAX_ATTEMPTS
