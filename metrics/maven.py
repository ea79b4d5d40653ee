"""Import the Maven Analytics CRM sales pipeline (opportunities, accounts, products, teams).

A history import, like the Olist one (`leads/olist.py`): each opportunity becomes a lead with its
past timeline and an `Opportunity`, written set-based (COPY) in one transaction, without today's
scoring, assignment or SLA timers. The sales agents and their managers become users (inactive,
no password: they sign in only once invited) with a sales membership and a `SalesRep`.
Re-importing skips opportunities already there (external id `maven:<opportunity_id>`) and reuses
the people. Every quirk is reported as a warning with its file and line; no row is dropped
silently (a row that cannot be imported is listed in `rejected`).

Decisions, for the metrics that read these rows:
- Timeline: new → MQL → SQL → accepted (→ opportunity) on the engage date, then won/lost on the
  close date. Dates are calendar dates, stamped at midnight in the organization's time zone so
  each lands on its own day in the daily metrics.
- Prospecting deals have no engage date (the data set's 500 rows): their timeline is dated at the
  export date, the latest date anywhere in the file (2017-12-31), the one day they are known to
  have been in the pipeline. They count as accepted, not engaged: no first touch.
- A closed deal with no engage date, or closed before it was engaged, is taken as engaged on its
  close date (cycle 0 days): the close date is the recorded outcome, so it is the one kept.
- Amount: the close value of a closed deal (a lost deal's recorded 0 stays 0), else the product's
  list price. Values carry the organization's currency; the data set states none.
- Names are matched ignoring case and spaces ("GTXPro" is "GTX Pro"), warned once per spelling.
"""

import csv
import re
import unicodedata
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from leads.models import Lead, LeadTransition, Opportunity, OpportunityStatus, SalesRep, Stage
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import current_organization
from revops.tenancy.copy import copy_insert, planner_statistics_refresh
from revops.tenancy.models import Membership, Role, User

PIPELINE_CSV = "sales_pipeline.csv"
ACCOUNTS_CSV = "accounts.csv"
PRODUCTS_CSV = "products.csv"
TEAMS_CSV = "sales_teams.csv"
FILES = (PIPELINE_CSV, ACCOUNTS_CSV, PRODUCTS_CSV, TEAMS_CSV)

EXTERNAL_PREFIX = "maven:"
EMAIL_DOMAIN = "maven-crm.import"

STAGES = {
    "Won": Stage.WON,
    "Lost": Stage.LOST,
    "Engaging": Stage.OPPORTUNITY,
    "Prospecting": Stage.ACCEPTED,
}
STATUS = {Stage.WON: OpportunityStatus.WON, Stage.LOST: OpportunityStatus.LOST}
PROBABILITY = {OpportunityStatus.WON: 100, OpportunityStatus.LOST: 0, OpportunityStatus.OPEN: 20}
# Known misspellings in accounts.csv; the import stores the corrected word and warns.
SPELLING = {"technolgy": "technology", "Philipines": "Philippines"}


@dataclass
class MavenReport:
    created: int = 0
    won: int = 0
    lost: int = 0
    open: int = 0
    skipped_existing: int = 0
    users_created: int = 0
    reps_created: int = 0
    as_of: date | None = None  # the export date prospecting deals are dated at
    rejected: list[str] = field(default_factory=list)  # rows not imported: "file line N: reason"
    warnings: list[str] = field(default_factory=list)  # imported, with a caveat


@dataclass
class _Account:
    sector: str
    employees: int | None
    location: str


@dataclass
class _Deal:
    line: int
    external_id: str
    stage: str
    agent: str
    product: str
    account: str
    engaged_on: date | None
    closed_on: date | None
    amount: Decimal


def _read(path: Path) -> list[tuple[int, dict]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [
            (number, {k: (v or "").strip() for k, v in row.items() if k is not None})
            for number, row in enumerate(csv.DictReader(handle), start=2)
        ]


def _key(name: str) -> str:
    return "".join(name.split()).casefold()


class _Names:
    """Canonical names (products, accounts, agents) looked up ignoring case and spaces, with
    each other spelling counted so it is warned once, at its first line."""

    def __init__(self, names):
        self.by_key = {_key(name): name for name in names}
        self.variants: dict[str, tuple[str, int, int]] = {}  # spelling → (canonical, line, n)

    def resolve(self, raw: str, line: int) -> str | None:
        canonical = self.by_key.get(_key(raw))
        if canonical is not None and canonical != raw:
            _, first, count = self.variants.get(raw, (canonical, line, 0))
            self.variants[raw] = (canonical, first, count + 1)
        return canonical

    def warnings(self, filename: str, what: str) -> list[str]:
        return [
            f"{filename} line {first}: {what} {raw!r} read as {canonical!r} ({count} rows)"
            for raw, (canonical, first, count) in self.variants.items()
        ]


def _date(value: str) -> date | None:
    return datetime.strptime(value, "%Y-%m-%d").date() if value else None


def _email(name: str) -> str:
    """Mei-Mei Johns → mei-mei.johns@maven-crm.import (two spellings of a name: one person)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = [re.sub(r"[^a-z0-9-]", "", part) for part in ascii_name.lower().split()]
    return ".".join(part for part in parts if part) + f"@{EMAIL_DOMAIN}"


def _read_accounts(path: Path, report: MavenReport) -> dict[str, _Account]:
    accounts: dict[str, _Account] = {}
    keys: set[str] = set()
    for line, row in _read(path):
        name = row.get("account", "")
        if not name:
            report.rejected.append(f"{path.name} line {line}: no account name")
            continue
        if _key(name) in keys:
            report.warnings.append(f"{path.name} line {line}: account {name!r} listed again, "
                                   "the first line is kept")  # fmt: skip
            continue
        keys.add(_key(name))
        sector, location = row.get("sector", ""), row.get("office_location", "")
        for value, what in ((sector, "sector"), (location, "office_location")):
            if value in SPELLING:
                report.warnings.append(
                    f"{path.name} line {line}: {what} {value!r} read as {SPELLING[value]!r}"
                )
        try:
            employees = int(row["employees"]) if row.get("employees") else None
        except ValueError:
            report.warnings.append(
                f"{path.name} line {line}: employees {row['employees']!r} unreadable, left blank"
            )
            employees = None
        accounts[name] = _Account(
            sector=SPELLING.get(sector, sector), employees=employees,
            location=SPELLING.get(location, location),
        )  # fmt: skip
    return accounts


def _read_products(path: Path, report: MavenReport) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for line, row in _read(path):
        name = row.get("product", "")
        try:
            price = Decimal(row.get("sales_price", ""))
            if not price.is_finite() or price < 0:
                raise InvalidOperation
        except InvalidOperation:
            report.rejected.append(
                f"{path.name} line {line}: product {name!r} has no usable sales_price "
                f"{row.get('sales_price')!r}"
            )
            continue
        if not name:
            report.rejected.append(f"{path.name} line {line}: no product name")
            continue
        prices[name] = price
    return prices


def _read_teams(path: Path, report: MavenReport) -> dict[str, tuple[str, str]]:
    """agent or manager name → (regional office, manager name or "" for a manager)."""
    people: dict[str, tuple[str, str]] = {}
    managers: dict[str, str] = {}
    for line, row in _read(path):
        agent, manager = row.get("sales_agent", ""), row.get("manager", "")
        office = row.get("regional_office", "")
        if not agent:
            report.rejected.append(f"{path.name} line {line}: no sales_agent")
            continue
        if agent in people:
            report.warnings.append(f"{path.name} line {line}: {agent} listed again, the first "
                                   "line is kept")  # fmt: skip
            continue
        people[agent] = (office, manager)
        if manager and managers.setdefault(manager, office) != office:
            report.warnings.append(
                f"{path.name} line {line}: manager {manager} also leads {office}; their own "
                f"team is taken as {managers[manager]}"
            )
    for manager, office in managers.items():
        people.setdefault(manager, (office, ""))
    return people


def _people_ensure(people: dict[str, tuple[str, str]], report: MavenReport) -> dict[str, User]:
    """One inactive user, a sales membership and a SalesRep per person; existing ones reused."""
    emails = {name: _email(name) for name in people}
    users = {user.email: user for user in User.objects.filter(email__in=emails.values())}
    created = []
    for name, email in emails.items():
        if email not in users:
            # No password: an unusable one. Inactive until someone invites them for real.
            users[email] = tenancy_services.user_create(email=email, password=None,
                                                        full_name=name)  # fmt: skip
            created.append(users[email])
    User.objects.filter(pk__in=[user.pk for user in created]).update(is_active=False)
    for user in created:
        user.is_active = False
    report.users_created = len(created)
    by_name = {name: users[email] for name, email in emails.items()}
    members = set(
        Membership.objects.filter(user__in=by_name.values()).values_list("user_id", flat=True)
    )
    for user in by_name.values():
        if user.pk not in members:
            members.add(user.pk)
            tenancy_services.membership_add(user=user, role=Role.SALES)
    has_rep = set(
        SalesRep.objects.filter(user__in=by_name.values()).values_list("user_id", flat=True)
    )
    reps = []
    for name, (office, manager) in people.items():
        user = by_name[name]
        if user.pk in has_rep:
            continue
        has_rep.add(user.pk)
        reps.append(
            SalesRep(
                organization=current_organization(), user=user, team=office,
                manager=by_name.get(manager), accepting_leads=False,
            )
        )  # fmt: skip
    SalesRep.objects.bulk_create(reps)
    report.reps_created = len(reps)
    return by_name


def import_maven(*, folder: Path) -> MavenReport:
    """Import the four CSV files in `folder` into the current organization's scope."""
    organization = current_organization()
    zone = zoneinfo.ZoneInfo(organization.timezone)
    report = MavenReport()
    accounts = _read_accounts(folder / ACCOUNTS_CSV, report)
    prices = _read_products(folder / PRODUCTS_CSV, report)
    people = _read_teams(folder / TEAMS_CSV, report)
    products, account_names = _Names(prices), _Names(accounts)
    agents = _Names(people)
    pipeline = folder / PIPELINE_CSV
    rows = _read(pipeline)
    where = pipeline.name

    # The export date: the latest date anywhere in the file.
    dates = [row.get(column, "") for _, row in rows for column in ("engage_date", "close_date")]
    as_of = max((d for d in dates if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)), default="")
    report.as_of = _date(as_of) if as_of else None

    existing = set(
        Lead.objects.filter(external_id__startswith=EXTERNAL_PREFIX).values_list(
            "external_id", flat=True
        )
    )

    def warn(line: int, message: str) -> None:
        report.warnings.append(f"{where} line {line}: {message}")

    def reject(line: int, message: str) -> None:
        report.rejected.append(f"{where} line {line}: {message}")

    seen: dict[str, int] = {}
    unknown_agents: Counter = Counter()
    first_unknown_line: dict[str, int] = {}
    deals: list[_Deal] = []
    for line, row in rows:
        opportunity_id, deal_stage = row.get("opportunity_id", ""), row.get("deal_stage", "")
        if not opportunity_id:
            reject(line, "no opportunity_id")
            continue
        if opportunity_id in seen:
            reject(line, f"opportunity {opportunity_id} already on line {seen[opportunity_id]}")
            continue
        seen[opportunity_id] = line
        external_id = EXTERNAL_PREFIX + opportunity_id
        if external_id in existing:
            report.skipped_existing += 1
            continue
        stage = STAGES.get(deal_stage)
        if stage is None:
            reject(line, f"unknown deal_stage {deal_stage!r}")
            continue
        engage_raw, close_raw = row.get("engage_date", ""), row.get("close_date", "")
        try:
            engaged_on, closed_on = _date(engage_raw), _date(close_raw)
        except ValueError:
            reject(line, f"unreadable engage_date {engage_raw!r} or close_date {close_raw!r}")
            continue
        value_raw = row.get("close_value", "")
        try:
            value = Decimal(value_raw) if value_raw else None
            if value is not None and (not value.is_finite() or value < 0):
                raise InvalidOperation
        except InvalidOperation:
            reject(line, f"unreadable close_value {value_raw!r}")
            continue

        agent_raw = row.get("sales_agent", "")
        agent = agents.resolve(agent_raw, line) if agent_raw else ""
        if agent is None:  # not in sales_teams.csv: imported as a person without a team
            agent = agent_raw
            unknown_agents[agent] += 1
            first_unknown_line.setdefault(agent, line)
        elif not agent:
            warn(line, "no sales_agent; imported without owner")
        account_raw = row.get("account", "")
        account = account_names.resolve(account_raw, line) if account_raw else ""
        if account is None:
            warn(line, f"account {account_raw!r} is not in {ACCOUNTS_CSV}; no sector")
            account = account_raw
        elif not account:
            warn(line, f"{deal_stage} deal without an account; company left blank")
        product_raw = row.get("product", "")
        product = products.resolve(product_raw, line)

        if stage in STATUS:  # closed: won or lost
            if closed_on is None or value is None:
                reject(line, f"{deal_stage} deal without close_date or close_value")
                continue
            if engaged_on is None:
                warn(line, f"closed deal without engage_date; taken as engaged on its close "
                     f"date {closed_on}")  # fmt: skip
                engaged_on = closed_on
            elif closed_on < engaged_on:
                warn(line, f"closed {closed_on} before it was engaged {engaged_on}; taken as "
                     "engaged on its close date (cycle 0 days)")  # fmt: skip
                engaged_on = closed_on
            if value == 0:
                warn(line, f"{deal_stage} deal with close_value 0, kept as 0 (as recorded)")
            amount = value
        else:
            if closed_on is not None or value is not None:
                warn(line, "open deal with a close_date or close_value; both ignored")
                closed_on = None
            if engaged_on is None:
                if report.as_of is None:
                    reject(line, "no engage_date and no date anywhere in the file to place it")
                    continue
                warn(line, f"{deal_stage} deal without engage_date; dated at the export date "
                     f"{report.as_of}")  # fmt: skip
            amount = prices[product] if product is not None else Decimal(0)
        if product is None:
            warn(line, f"product {product_raw!r} is not in {PRODUCTS_CSV}"
                 + ("" if stage in STATUS else "; no list price, amount 0"))  # fmt: skip
        deals.append(
            _Deal(
                line=line, external_id=external_id, stage=stage, agent=agent,
                product=product or product_raw, account=account,
                engaged_on=engaged_on, closed_on=closed_on, amount=amount,
            )
        )  # fmt: skip
    report.warnings += products.warnings(where, "product")
    report.warnings += account_names.warnings(where, "account")
    report.warnings += agents.warnings(where, "sales_agent")
    for agent, count in unknown_agents.items():
        report.warnings.append(
            f"{where} line {first_unknown_line[agent]}: sales_agent {agent!r} is not in "
            f"{TEAMS_CSV} ({count} rows); imported as a rep without team or manager"
        )
        people[agent] = ("", "")

    def stamp(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone)

    with transaction.atomic():
        users = _people_ensure(people, report)
        leads, timelines = [], []
        for deal in deals:
            owner = users.get(deal.agent)
            sql_at = stamp(deal.engaged_on or report.as_of)
            steps = [
                ("", Stage.NEW, sql_at), (Stage.NEW, Stage.MQL, sql_at),
                (Stage.MQL, Stage.SQL, sql_at), (Stage.SQL, Stage.ACCEPTED, sql_at),
            ]  # fmt: skip
            if deal.stage != Stage.ACCEPTED:
                steps.append((Stage.ACCEPTED, Stage.OPPORTUNITY, sql_at))
            if deal.closed_on is not None:
                steps.append((Stage.OPPORTUNITY, deal.stage, stamp(deal.closed_on)))
            info = accounts.get(deal.account)
            leads.append(
                Lead(
                    organization=organization, external_id=deal.external_id,
                    company_name=deal.account, industry=info.sector if info else "",
                    company_size=info.employees if info else None,
                    territory=info.location if info else "",
                    stage=deal.stage, stage_changed_at=steps[-1][2],
                    owner_id=owner.pk if owner else None, handed_off_at=sql_at,
                    first_touch_at=stamp(deal.engaged_on) if deal.engaged_on else None,
                )
            )  # fmt: skip
            timelines.append(steps)
        copy_insert(Lead, leads)
        # Ids, not objects, from here on: 45,000 rows, and Django's descriptors cost.
        copy_insert(
            LeadTransition,
            [
                LeadTransition(
                    organization_id=organization.pk, lead_id=lead.pk, from_stage=from_stage,
                    to_stage=to_stage, at=at,
                    # The rep acted from acceptance on; qualification happened before the export.
                    actor_id=lead.owner_id if to_stage not in (Stage.NEW, Stage.MQL, Stage.SQL)
                    else None,
                    reason="Imported from Maven CRM" if not from_stage else "Maven CRM history",
                )
                for lead, steps in zip(leads, timelines, strict=True)
                for from_stage, to_stage, at in steps
            ],
        )  # fmt: skip
        opportunities = []
        for deal, lead in zip(deals, leads, strict=True):
            status = STATUS.get(deal.stage, OpportunityStatus.OPEN)
            opportunities.append(
                Opportunity(
                    organization_id=organization.pk, lead_id=lead.pk, name=deal.product,
                    amount=deal.amount, currency=organization.currency,
                    probability=PROBABILITY[status], status=status,
                    closed_at=stamp(deal.closed_on) if deal.closed_on else None,
                    won_value=deal.amount if status == OpportunityStatus.WON else None,
                )
            )  # fmt: skip
        copy_insert(Opportunity, opportunities)
        planner_statistics_refresh(Lead, LeadTransition, Opportunity)
    counts = Counter(opportunity.status for opportunity in opportunities)
    report.created = len(leads)
    report.won, report.lost = counts[OpportunityStatus.WON], counts[OpportunityStatus.LOST]
    report.open = counts[OpportunityStatus.OPEN]
    return report
