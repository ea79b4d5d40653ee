"""The snapshot's reads and rewrites go through the index made for each (metrics/models.py).

The statements checked are the ones the real functions execute, captured and EXPLAINed over a
snapshot shaped like a real one (half a year of days, the overall scope and a few dimensions'
members) with sequential scans priced out of reach. At 1,000,000 leads, daily sums read through
an index keyed by day first walked every dimension's rows of the range: 58 ms for 90 days
instead of about 2. A change that loses an index fails here.
"""

import re
from datetime import date

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from metrics import scoreboard, selectors
from metrics.compute import Filters, snapshot_replace
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase

FIRST, LAST = date(2026, 9, 1), date(2026, 11, 29)

# 180 days x 12 measures x (the total, 6 channels, 40 campaigns): 101,520 facts.
SNAPSHOT = """
INSERT INTO metrics_metricfact (organization_id, created_at, updated_at, day, measure, dimension,
                                member, value)
SELECT %(org)s, now(), now(), %(last)s::date - d, 'measure_' || m, scope.dimension, scope.member, 1
FROM generate_series(0, 179) AS d, generate_series(1, 12) AS m,
     (SELECT '' AS dimension, '' AS member
      UNION ALL SELECT 'channel', 'channel_' || c FROM generate_series(1, 6) AS c
      UNION ALL SELECT 'campaign', c::text FROM generate_series(1, 40) AS c) AS scope
"""


class FactIndexTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with connection.cursor() as cursor:
            cursor.execute(SNAPSHOT, {"org": cls.org_a.pk, "last": LAST})
            cursor.execute("ANALYZE metrics_metricfact")

    def plans(self, call) -> list[str]:
        """The plans of the statements on metrics_metricfact that `call` executes."""
        with organization_scope(self.org_a), CaptureQueriesContext(connection) as captured:
            call()
        statements = [
            q["sql"] for q in captured.captured_queries
            if "metrics_metricfact" in q["sql"] and not q["sql"].startswith("COPY")  # no plan
        ]  # fmt: skip
        assert statements, "the call read no fact"
        plans = []
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            for sql in statements:
                cursor.execute(f"EXPLAIN {sql}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return plans

    def index_definition(self, plan: str) -> str:
        name = re.search(r"Index (?:Only )?Scan using (\w+)", plan).group(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
            return cursor.fetchone()[0]

    def test_a_scope_s_daily_sums_read_its_own_rows(self):
        for filters in (Filters(), Filters(channel="paid_search")):
            (plan,) = self.plans(lambda f=filters: scoreboard.daily_sums(FIRST, LAST, f))
            # The index leads with the scope, then the day: the scan starts at the scope's first
            # day and stops after its last, reading no other scope's row on the way.
            assert "(organization_id, dimension, member, day" in self.index_definition(plan), plan

    def test_a_breakdown_reads_its_named_measures(self):
        (plan,) = self.plans(
            lambda: selectors.by_member(FIRST, LAST, ["feedback_ratings"], "campaign")
        )
        assert "metricfact_read" in plan, plan

    def test_rewriting_a_range_deletes_through_the_day_index(self):
        plans = self.plans(lambda: snapshot_replace(LAST, LAST))
        delete = next(plan for plan in plans if plan.startswith("Delete"))
        assert "metricfact_by_day" in delete, delete
