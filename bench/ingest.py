"""Lead intake throughput: bulk upsert, CSV import, single signed webhook, raw COPY for scale.

100,000 synthetic leads (a third of them qualify under the default policy and are assigned
round-robin among 10 reps; scoring rules on). Prints leads/s and webhook p50/p95 in ms.

    make bench ARGS=ingest          # BENCH_LEADS=20000 for a quicker run
"""

import io
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

import django

django.setup()

from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment

from leads import csv_io, imports, services
from leads.models import SalesRep, ScoringRule
from leads.webhooks import inbound_webhook_rotate_secret, signature_for
from revops.tenancy import services as tenancy_services
from revops.tenancy.context import organization_scope
from revops.tenancy.models import Role

LEADS = int(os.environ.get("BENCH_LEADS", "100000"))
BATCH = services.BULK_LIMIT
WEBHOOK_REQUESTS = 300
CSV_ROWS = int(os.environ.get("BENCH_CSV_ROWS", "20000"))
INDUSTRIES = ["Retail", "Software", "Finance", "Health", "Education"]


def synthetic_lead(rng: random.Random, i: int, prefix: str) -> dict:
    qualifies = i % 3 == 0
    return {
        "email": f"{prefix}{i}@bench.test",
        "full_name": f"Lead {i}",
        "company_name": f"Company {i % 5000}",
        "industry": rng.choice(INDUSTRIES),
        "company_size": rng.randint(5, 5000),
        "source": rng.choice(["paid_search", "social", "email", "events"]),
        "budget_amount": str(rng.randint(20000, 90000) if qualifies else rng.randint(0, 5000)),
        "authority_role": "decision_maker" if qualifies else "user",
        "needs": ["Forecasting"] if qualifies else [],
        "timeline_days": 30 if qualifies else 365,
    }


def setup_organization():
    organization = tenancy_services.organization_create(name="Bench", slug="bench")
    with organization_scope(organization):
        for r in range(10):
            user = tenancy_services.user_create(email=f"rep{r}@bench.test", password="x" * 20)
            tenancy_services.membership_add(user=user, role=Role.SALES)
            SalesRep.objects.create(user=user)
        ScoringRule.objects.create(kind="fit", attribute="industry", value="Retail", points=10)
        ScoringRule.objects.create(
            kind="fit", attribute="company_size_at_least", value="1000", points=55
        )
        services.policy_ensure()
    return organization


def bench_bulk(organization) -> float:
    rng = random.Random(7)
    rows = [synthetic_lead(rng, i, "bulk") for i in range(LEADS)]
    with organization_scope(organization):
        start = time.perf_counter()
        for offset in range(0, LEADS, BATCH):
            results = services.leads_bulk_upsert(actor=None, rows=rows[offset : offset + BATCH])
            assert all(r.status == "created" for r in results)
        return LEADS / (time.perf_counter() - start)


def bench_webhook(organization) -> tuple[float, float]:
    with organization_scope(organization):
        secret = inbound_webhook_rotate_secret().signing_secret
    client, rng, durations = Client(), random.Random(8), []
    for i in range(WEBHOOK_REQUESTS):
        body = json.dumps(synthetic_lead(rng, i, "hook")).encode()
        timestamp = str(int(time.time()))
        start = time.perf_counter()
        response = client.post(
            "/hooks/o/bench/leads/", body, content_type="application/json",
            HTTP_X_REVOPS_TIMESTAMP=timestamp,
            HTTP_X_REVOPS_SIGNATURE="v1=" + signature_for(secret, timestamp, body),
        )  # fmt: skip
        durations.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 201, response.content
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.95)]


def bench_csv(organization) -> float:
    """A CSV upload through the import machinery (parse, map, chunked bulk upsert)."""
    rng = random.Random(9)
    lines = ["Email,First Name,Last Name,Company Name,Industry,Number of Employees,Original Source"]
    for i in range(CSV_ROWS):
        lead = synthetic_lead(rng, i, "csv")
        lines.append(f"{lead['email']},Csv,Lead {i},{lead['company_name']},{lead['industry']},"
                     f"{lead['company_size']},Paid Search")  # fmt: skip
    content = "\n".join(lines) + "\n"
    headers, _rows = csv_io.read_csv(content)
    with organization_scope(organization):
        start = time.perf_counter()
        lead_import = imports.lead_import_create(
            actor=None, filename="bench.csv", content=content,
            mapping=csv_io.guess_mapping(headers, "hubspot"), in_background=False,
        )  # fmt: skip
        done = imports.lead_import_process(lead_import_id=lead_import.pk)
        assert done.created_count == CSV_ROWS, done.errors[:3]
        return CSV_ROWS / (time.perf_counter() - start)


def bench_copy(organization) -> float:
    """The floor: PostgreSQL COPY of the same number of bare rows into the leads table."""
    buffer = io.StringIO()
    for i in range(LEADS):
        buffer.write(f"{organization.pk}\tcopy{i}@bench.test\tnew\t2026-01-01T00:00:00Z\n")
    columns = "organization_id, email, stage, stage_changed_at"
    start = time.perf_counter()
    with connection.cursor() as cursor:
        # Defaults the ORM would fill in, for a COPY that names only the essential columns.
        cursor.execute(
            "CREATE TEMP TABLE copy_leads (organization_id bigint, email text, stage text,"
            " stage_changed_at timestamptz)"
        )
        with cursor.copy(f"COPY copy_leads ({columns}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(
            "INSERT INTO leads_lead (organization_id, email, stage, stage_changed_at, created_at,"
            " updated_at, full_name, phone, title, company_name, company_domain, industry,"
            " territory, persona, source, landing_page, external_id, score, score_breakdown,"
            " authority_role, needs) SELECT organization_id, email, stage, stage_changed_at,"
            " now(), now(), '', '', '', '', '', '', '', '', 'other', '', '', 0, '[]', '', '{}'"
            " FROM copy_leads"
        )
    return LEADS / (time.perf_counter() - start)


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        organization = setup_organization()
        bulk_rate = bench_bulk(organization)
        p50, p95 = bench_webhook(organization)
        csv_rate = bench_csv(organization)
        copy_rate = bench_copy(organization)
        print(f"{LEADS} leads, batches of {BATCH}, qualification + scoring + assignment on")
        print(f"bulk upsert (service)   {bulk_rate:9,.0f} leads/s")
        print(f"CSV import ({CSV_ROWS} rows) {csv_rate:9,.0f} leads/s")
        ratio = copy_rate / bulk_rate
        print(f"raw COPY (floor)        {copy_rate:9,.0f} leads/s   ratio {ratio:.1f}x")
        print(
            f"signed webhook          p50 {p50:.1f} ms   p95 {p95:.1f} ms   "
            f"({WEBHOOK_REQUESTS} requests)"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
