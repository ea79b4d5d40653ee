"""The huddle's live reads go through the indexes made for them (huddle/migrations/0002, 0003).

The test tables are tiny, so PostgreSQL would rather read them whole; with sequential scans
priced out of reach (as they would be on a large organization's tables) each read must find
its index. A query changed so that it can no longer use one fails here, not in production."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from huddle import selectors
from sla.selectors import counted_timers
from tests.huddle.base import HuddleTestCase


class IndexTests(HuddleTestCase):
    def plan(self, queryset) -> str:
        sql, params = queryset.query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            return "\n".join(row[0] for row in cursor.fetchall())

    def test_stalled_deals_are_read_through_their_partial_index(self):
        deals = selectors.stalled_deals(timezone.now(), 14)
        assert "huddle_stalled_deals" in self.plan(deals[:10])

    def test_marketing_clocks_are_read_through_their_partial_index(self):
        now = timezone.now()
        clocks = counted_timers(now - timedelta(days=56), now).filter(
            target__in=["acknowledge", "resolve"]
        )
        assert "huddle_feedback_clocks" in self.plan(clocks)

    def test_the_open_pipeline_is_an_index_only_scan(self):
        from django.db.models import Count, Sum

        from leads.models import Opportunity

        open_deals = Opportunity.objects.filter(status="open").values("organization")
        open_deals = open_deals.annotate(deals=Count("id"), value=Sum("amount"))
        assert "Index Only Scan using huddle_open_pipeline" in self.plan(open_deals)
