"""Facts from the feedback loop and the follow-up SLA: ratings by channel, outcomes by rep."""

from datetime import date, timedelta

from leads import services as lead_services
from leads.models import LeadFeedback
from metrics import selectors
from metrics.compute import snapshot_replace
from sla.sweep import sweep
from tests.sla.base import SlaTestCase
from tests.sla.test_timers import TUESDAY_10

DAY = date(2026, 11, 24)


class FeedbackAndSlaFactsTests(SlaTestCase):
    def setUp(self):
        super().setUp()
        on_time = self.hand_off(TUESDAY_10, name="Ada")
        late = self.hand_off(TUESDAY_10, name="Bea")
        lead_services.touch_log(lead=on_time, actor=self.bob, kind="call",
                                at=TUESDAY_10 + timedelta(minutes=20))  # fmt: skip
        sweep(TUESDAY_10 + timedelta(hours=3))  # Bea's follow-up breaches
        for lead, rating in ((on_time, 5), (late, 2)):
            given = lead_services.feedback_rate(lead=lead, actor=self.bob, rating=rating,
                                                now=TUESDAY_10 + timedelta(hours=4))  # fmt: skip
            # A rating counts on the day it was given: its row's creation, pinned to that day.
            LeadFeedback.objects.filter(pk=given.pk).update(
                created_at=TUESDAY_10 + timedelta(hours=4)
            )
        snapshot_replace(DAY - timedelta(days=1), DAY + timedelta(days=1))

    def test_follow_up_outcomes_count_on_their_deadline_day_for_the_rep(self):
        measures = ["follow_up_on_time", "follow_up_breached"]
        assert selectors.totals(DAY, DAY, measures) == {
            "follow_up_on_time": 1, "follow_up_breached": 1,
        }  # fmt: skip
        per_rep = selectors.by_member(DAY, DAY, measures, "rep")
        assert per_rep == {str(self.bob.pk): {"follow_up_on_time": 1, "follow_up_breached": 1}}

    def test_ratings_and_their_average(self):
        measures = ["feedback_ratings", "feedback_rating_sum"]
        sums = selectors.totals(DAY - timedelta(days=1), DAY + timedelta(days=1), measures)
        assert sums == {"feedback_ratings": 2, "feedback_rating_sum": 7}
        assert selectors.ratio(sums["feedback_rating_sum"], sums["feedback_ratings"]) == 3.5
