"""The huddle's services and what it computes: the figures of a week (from the snapshot and the
live reads), frozen once the week is over; action items carried over from huddle to huddle until
done or dropped; notes per section."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from huddle import selectors, services
from huddle.models import Huddle, HuddleNote, ItemStatus, Section, Team
from leads import services as lead_services
from metrics.scoreboard import exit_reasons
from sla import services as sla_services
from sla.models import SlaKind
from sla.sweep import sweep
from tests.huddle.base import CHICAGO, OPENED, WEEK, HuddleTestCase, at


class FiguresTests(HuddleTestCase):
    def setUp(self):
        super().setUp()
        self.build_week()

    def test_the_review_window_is_the_seven_days_before_the_opening_within_the_week(self):
        assert selectors.review_window(WEEK, date(2025, 3, 12)) == (date(2025, 3, 5),
                                                                    date(2025, 3, 11))  # fmt: skip
        # A Monday huddle reviews the previous Monday to Sunday.
        assert selectors.review_window(WEEK, WEEK) == (date(2025, 3, 3), date(2025, 3, 9))
        # Opened after its week, it never reviews past its own Sunday.
        assert selectors.review_window(WEEK, date(2025, 4, 1))[1] == date(2025, 3, 16)

    def test_pipeline_health_from_the_snapshot_and_the_live_pipeline(self):
        huddle = services.huddle_open(week_start=WEEK, now=OPENED)
        figures = huddle.figures
        assert (figures["first_day"], figures["last_day"]) == ("2025-03-05", "2025-03-11")
        pipeline = figures["pipeline"]
        assert pipeline["sqls"] == 4
        assert pipeline["open_opportunities"] == 1  # Ada: three opened, one won, one lost
        assert pipeline["win_rate"] == 0.5 and pipeline["win_rate_week"] == 0.5
        # Open deals x win rate x average won deal / average cycle (Cy: Thursday 10:00 to
        # Monday 11:00 in Chicago, 4 days and 1 hour of wall-clock time).
        cycle_days = 4 + 1 / 24
        assert pipeline["velocity"] == pytest.approx(1 * 0.5 * 8000 / cycle_days)
        assert (pipeline["open_deals"], pipeline["open_value"]) == (1, 12000.0)
        assert pipeline["forecast"] == 6000.0  # 12,000 open x 50 % won
        assert pipeline["revenue_target"] == 24000.0
        assert pipeline["coverage"] == 0.5 and pipeline["forecast_share"] == 0.25
        assert pipeline["sql_targets"] == []  # the SQL-volume commitment is off by default
        assert len(pipeline["weekly"]) == selectors.TREND_WEEKS
        assert pipeline["weekly"][-1]["week_end"] == "2025-03-11"
        assert pipeline["weekly"][-1]["sqls"] == 4

    def test_the_sql_target_is_the_sla_volume_commitment_with_its_projection(self):
        sla_services.policy_create_version(kind=SlaKind.SQL_VOLUME, actor=self.alice,
                                           enabled=True, volume_target=8, volume_period="week",
                                           now=at(10, 0))  # fmt: skip
        self.sql("Eve", at(11, 10))  # the week's one SQL so far
        sweep(OPENED)  # opens the week's period and measures its pace
        (target,) = services.huddle_open(week_start=WEEK, now=OPENED).figures["pipeline"][
            "sql_targets"
        ]
        assert (target["target"], target["delivered"], target["period"]) == (8, 1, "week")
        # Wednesday 15:00 is 22 of the week's 40 business hours: 4.4 SQLs expected by now, and
        # at this pace the week ends with 8 x 1 / 4.4.
        assert target["expected"] == pytest.approx(8 * 22 / 40)
        assert target["projected"] == pytest.approx(40 / 22)

    def test_stalled_deals_are_open_deals_without_a_stage_change_or_touch(self):
        stalled = services.huddle_open(week_start=WEEK, now=OPENED).figures["pipeline"]["stalled"]
        assert stalled["days"] == 5 and stalled["count"] == 1
        (row,) = stalled["rows"]
        assert row["lead_id"] == self.ada.pk and row["amount"] == 12000.0
        assert row["owner"] == "Bob Sales" and row["days"] == 6  # quiet since Thursday 12:30
        # A touch within the five days wakes the deal up.
        lead_services.touch_log(lead=self.ada, actor=self.bob, kind="email", at=at(10, 9))
        later = OPENED + services.FIGURES_FRESH_FOR
        stalled = services.huddle_open(week_start=WEEK, now=later).figures["pipeline"]["stalled"]
        assert (stalled["count"], stalled["rows"]) == (0, [])

    def test_lead_quality_feedback_by_campaign_with_rejection_reasons_and_the_inbox(self):
        feedback = services.huddle_open(week_start=WEEK, now=OPENED).figures["feedback"]
        assert (feedback["ratings"], feedback["average"], feedback["rejections"]) == (2, 3.0, 1)
        assert feedback["by_campaign"] == [
            {"campaign": "Spring webinar", "ratings": 2, "average": 3.0, "rejections": 0},
            {"campaign": "Trade show", "ratings": 0, "average": None, "rejections": 1},
        ]
        assert feedback["reasons"] == [{"reason": "No budget", "count": 1.0}]
        # The same counts as the scoreboard's exit reasons, from the same stored facts.
        exits = exit_reasons(date(2025, 3, 5), date(2025, 3, 11))
        rejected = exits[exits["to_stage"] == "rejected"]
        pairs = zip(rejected["reason"], rejected["count"], strict=True)
        assert [{"reason": r, "count": c} for r, c in pairs] == feedback["reasons"]
        # Bea's rejection and Cy's rating wait in marketing's inbox, oldest first; both
        # acknowledgement clocks (48 hours) ran out on Sunday.
        assert feedback["inbox_open"] == 2 and feedback["inbox_acknowledged"] == 0
        first, second = feedback["inbox"]
        assert first["lead_id"] == self.bea.pk and first["from_rejection"]
        assert first["sla"] == "breached" and first["campaign"] == "Trade show"
        assert second["lead_id"] == self.cy.pk and second["rating"] == 2

    def test_sla_breaches_since_the_last_huddle_and_compliance_per_team(self):
        sla = services.huddle_open(week_start=WEEK, now=OPENED).figures["sla"]
        # Sales: Bea's follow-up. Marketing: Bea's and Cy's acknowledgement and resolution.
        assert sla["breach_count"] == 5
        assert sla["breach_teams"] == {"Sales": 1, "Marketing": 4}
        # No earlier huddle: since the review window began.
        assert datetime.fromisoformat(sla["since"]) == at(5, 0)
        assert [row["commitment"] for row in sla["breaches"]] == [
            "Resolve feedback", "Resolve feedback", "Acknowledge feedback",
            "Acknowledge feedback", "First follow-up",
        ]  # fmt: skip
        # The review week (Wednesday 5 to Tuesday 11 March): three follow-ups on time and Bea's
        # breached; Ada's acknowledgement on time, Bea's and Cy's breached. The resolutions are
        # due on Wednesday 12th, after it.
        assert sla["latest"] == {
            "Sales": {"week_end": "2025-03-11", "team": "Sales", "on_time": 3, "breached": 1,
                      "percent": 75.0},
            "Marketing": {"week_end": "2025-03-11", "team": "Marketing", "on_time": 1,
                          "breached": 2, "percent": 33.3},
        }  # fmt: skip
        assert len(sla["trend"]) == 2 * selectors.TREND_WEEKS
        earlier = [row for row in sla["trend"] if row["week_end"] != "2025-03-11"]
        assert all(row["percent"] is None for row in earlier)  # nothing fell due before

    def test_breaches_are_counted_from_the_previous_huddles_figures(self):
        earlier = WEEK - timedelta(days=7)
        services.huddle_open(week_start=earlier, now=at(6, 10, 30))  # before Bea's breach
        sla = services.huddle_open(week_start=WEEK, now=OPENED).figures["sla"]
        assert datetime.fromisoformat(sla["since"]) == at(6, 10, 30)
        assert sla["breach_count"] == 5
        services.huddle_open(week_start=earlier, now=at(9, 23))  # its last opening: Sunday
        sla = services.huddle_open(week_start=WEEK, now=at(12, 15, 5)).figures["sla"]
        assert sla["breach_count"] == 2  # the two resolutions, due Wednesday

    def test_reopening_during_the_week_refreshes_and_after_it_never_recomputes(self):
        first = services.huddle_open(week_start=WEEK, now=OPENED)
        assert first.figures["pipeline"]["sqls"] == 4
        self.sql("Eve", at(11, 10))
        self.snapshot()
        thursday = at(13, 9)
        again = services.huddle_open(week_start=WEEK, now=thursday)
        assert again.pk == first.pk
        assert again.figures["pipeline"]["sqls"] == 5 and again.figures_at == thursday
        stored = Huddle.objects.get(pk=first.pk)
        assert stored.figures == again.figures

        # The week ends; more happens, the snapshot is recomputed, and the huddle is reopened.
        self.sql("Fay", at(11, 11))
        lead_services.lead_convert(lead=self.bob_accepted("Gus", at(11, 12)), actor=self.bob,
                                   amount=Decimal(50000), now=at(11, 13))  # fmt: skip
        self.snapshot()
        later = services.huddle_open(week_start=WEEK, now=at(20, 10))
        assert later.figures == stored.figures and later.figures_at == thursday
        assert later.figures["pipeline"]["sqls"] == 5
        assert later.figures["pipeline"]["open_value"] == 12000.0
        # Today's numbers differ: the frozen record is not today's.
        today = selectors.huddle_figures(week_start=WEEK, now=at(13, 9, 30))
        assert today["pipeline"]["sqls"] == 7 and today["pipeline"]["open_value"] == 62000.0

    def test_figures_less_than_a_minute_old_are_shown_as_stored(self):
        first = services.huddle_open(week_start=WEEK, now=OPENED)
        self.sql("Eve", at(11, 10))
        self.snapshot()
        soon = services.huddle_open(week_start=WEEK, now=OPENED + timedelta(seconds=59))
        assert soon.figures_at == OPENED and soon.figures["pipeline"]["sqls"] == 4
        later = services.huddle_open(week_start=WEEK, now=OPENED + timedelta(seconds=60))
        assert later.figures_at == OPENED + timedelta(seconds=60)
        assert later.figures["pipeline"]["sqls"] == 5 and later.pk == first.pk

    def bob_accepted(self, name, when):
        lead = self.sql(name, when)
        lead_services.lead_accept(lead=lead, actor=self.bob, now=when + timedelta(minutes=5))
        return lead

    def test_a_week_not_begun_has_no_figures_and_no_row_and_a_past_week_never_held_none(self):
        ahead = services.huddle_open(week_start=WEEK + timedelta(days=7), now=OPENED)
        assert ahead.pk is None and ahead.figures == {}
        assert services.huddle_open(week_start=WEEK - timedelta(days=7), now=OPENED) is None
        assert not Huddle.objects.exists()

    def test_the_week_follows_the_organizations_time_zone(self):
        # Sunday 23:30 in Chicago is already Monday in UTC: still the week of the 10th.
        sunday_night = datetime(2025, 3, 16, 23, 30, tzinfo=CHICAGO)
        assert selectors.week_start_of(selectors.local_date(sunday_night)) == WEEK
        huddle = services.huddle_open(week_start=WEEK, now=sunday_night)
        assert huddle.figures_at == sunday_night
        monday = sunday_night + timedelta(hours=1)
        assert services.huddle_open(week_start=WEEK, now=monday).figures_at == sunday_night

    def test_a_week_must_start_on_monday(self):
        with pytest.raises(ValidationError) as caught:
            services.huddle_open(week_start=WEEK + timedelta(days=1), now=OPENED)
        assert "week" in caught.value.message_dict


class ActionItemTests(HuddleTestCase):
    """Weeks of 3, 10 and 17 March 2025; each huddle opened on its Tuesday."""

    W1, W2, W3 = date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 17)

    def tuesday(self, week: date, hour: int = 10) -> datetime:
        return datetime.combine(week + timedelta(days=1), datetime.min.time()).replace(
            hour=hour, tzinfo=CHICAGO
        )

    def item(self, week: date, title: str, **extra):
        values = {"owner": self.bob, "team": Team.SALES, "due_on": week + timedelta(days=4),
                  **extra}  # fmt: skip
        return services.action_item_create(week_start=week, actor=self.alice, title=title,
                                           now=self.tuesday(week), **values)  # fmt: skip

    def shown(self, week: date, now: datetime) -> dict[str, selectors.ShownItem]:
        return {s.item.title: s for s in selectors.action_items(week_start=week, now=now)}

    def test_unfinished_items_carry_over_until_done_or_dropped(self):
        open_item = self.item(self.W1, "Agree the MQL threshold")
        done = self.item(self.W1, "Share the webinar list")
        dropped = self.item(self.W1, "Trial a new lead source", team=Team.MARKETING)
        services.action_item_set_status(item=done, status=ItemStatus.DONE,
                                        now=self.tuesday(self.W1, 11))  # fmt: skip
        assert open_item.huddle.week_start == self.W1

        # The next huddle shows what was still open when its week began.
        week2 = self.shown(self.W2, self.tuesday(self.W2))
        assert set(week2) == {"Agree the MQL threshold", "Trial a new lead source"}
        assert all(s.carried for s in week2.values())
        services.action_item_set_status(item=dropped, status=ItemStatus.DROPPED,
                                        now=self.tuesday(self.W2, 11))  # fmt: skip
        new = self.item(self.W2, "Joint call review", owner=None, team=Team.JOINT)
        assert new.huddle.week_start == self.W2

        # Dropped during the second huddle: shown there as dropped, gone from the third.
        week2 = self.shown(self.W2, self.tuesday(self.W2, 12))
        assert week2["Trial a new lead source"].status == ItemStatus.DROPPED
        assert not week2["Joint call review"].carried
        week3 = self.shown(self.W3, self.tuesday(self.W3))
        assert set(week3) == {"Agree the MQL threshold", "Joint call review"}
        assert week3["Joint call review"].carried
        # The first huddle still shows all of its own.
        assert set(self.shown(self.W1, self.tuesday(self.W3))) == {
            "Agree the MQL threshold", "Share the webinar list", "Trial a new lead source",
        }  # fmt: skip

    def test_a_past_huddle_shows_an_item_closed_later_as_open(self):
        item = self.item(self.W1, "Fix the routing rule")
        services.action_item_set_status(item=item, status=ItemStatus.DONE,
                                        now=self.tuesday(self.W3))  # fmt: skip
        seen_from_week2 = self.shown(self.W2, self.tuesday(self.W3, 12))["Fix the routing rule"]
        assert seen_from_week2.status == ItemStatus.OPEN and seen_from_week2.closed_later
        seen_now = self.shown(self.W3, self.tuesday(self.W3, 12))["Fix the routing rule"]
        assert seen_now.status == ItemStatus.DONE and not seen_now.closed_later
        # Reopened, it is open again, with no close date.
        services.action_item_set_status(item=item, status=ItemStatus.OPEN,
                                        now=self.tuesday(self.W3, 13))  # fmt: skip
        item.refresh_from_db()
        assert (item.status, item.closed_at) == (ItemStatus.OPEN, None)

    def test_items_are_added_to_this_week_or_ahead_never_to_a_week_that_is_over(self):
        with pytest.raises(ValidationError) as caught:
            services.action_item_create(week_start=self.W1, actor=self.alice, title="Too late",
                                        owner=None, team=Team.JOINT, due_on=None,
                                        now=self.tuesday(self.W2))  # fmt: skip
        assert "week" in caught.value.message_dict
        ahead = services.action_item_create(week_start=self.W3, actor=self.alice, title="Plan",
                                            owner=None, team=Team.JOINT, due_on=None,
                                            now=self.tuesday(self.W2))  # fmt: skip
        assert ahead.huddle.week_start == self.W3 and ahead.huddle.figures == {}

    def test_bad_items_are_refused_field_by_field(self):
        with pytest.raises(ValidationError) as caught:
            services.action_item_create(
                week_start=self.W1, actor=self.alice, title="  ", owner=self.charlie,
                team="finance", due_on=date(2031, 1, 1), now=self.tuesday(self.W1),
            )  # fmt: skip
        assert set(caught.value.message_dict) == {"title", "owner", "team", "due_on"}
        with pytest.raises(ValidationError):
            services.action_item_set_status(item=self.item(self.W1, "x"), status="later",
                                            now=self.tuesday(self.W1))  # fmt: skip

    def test_an_update_changes_the_fields_and_keeps_the_huddle(self):
        item = self.item(self.W1, "Draft")
        services.action_item_update(item=item, title="Final", owner=self.alice,
                                    team=Team.MARKETING, due_on=None,
                                    now=self.tuesday(self.W2))  # fmt: skip
        item.refresh_from_db()
        assert (item.title, item.owner, item.team, item.due_on) == (
            "Final", self.alice, Team.MARKETING, None,
        )  # fmt: skip
        assert item.huddle.week_start == self.W1


class NoteTests(HuddleTestCase):
    def test_notes_are_kept_per_section_with_author_and_time(self):
        note = services.note_add(week_start=WEEK, section=Section.SLA, body="  Bea: call her  ",
                                 author=self.bob, now=OPENED)  # fmt: skip
        services.note_add(week_start=WEEK, section=Section.PIPELINE, body="Ada is stuck",
                          author=self.alice, now=OPENED)  # fmt: skip
        assert note.body == "Bea: call her" and note.author == self.bob and note.created_at
        huddle = Huddle.objects.get(week_start=WEEK)
        notes = selectors.notes_by_section(huddle)
        assert [n.body for n in notes[Section.SLA]] == ["Bea: call her"]
        assert [n.body for n in notes[Section.PIPELINE]] == ["Ada is stuck"]
        assert notes[Section.FEEDBACK] == [] and notes[Section.ACTIONS] == []

    def test_a_held_huddle_takes_notes_after_its_week_a_week_never_held_does_not(self):
        services.huddle_open(week_start=WEEK, now=OPENED)
        later = OPENED + timedelta(days=20)
        services.note_add(week_start=WEEK, section=Section.ACTIONS, body="Minutes sent",
                          author=self.alice, now=later)  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            services.note_add(week_start=WEEK - timedelta(days=7), section=Section.ACTIONS,
                              body="?", author=self.alice, now=later)  # fmt: skip
        assert "week" in caught.value.message_dict

    def test_bad_notes_are_refused(self):
        with pytest.raises(ValidationError) as caught:
            services.note_add(week_start=WEEK, section="gossip", body="", author=self.bob,
                              now=OPENED)  # fmt: skip
        assert set(caught.value.message_dict) == {"section", "body"}
        with pytest.raises(ValidationError) as caught:
            services.note_add(week_start=WEEK, section=Section.SLA, body="x" * 5001,
                              author=self.bob, now=OPENED)  # fmt: skip
        assert "body" in caught.value.message_dict

    def test_only_the_author_or_an_admin_deletes_a_note(self):
        note = services.note_add(week_start=WEEK, section=Section.SLA, body="Mine",
                                 author=self.bob, now=OPENED)  # fmt: skip
        with pytest.raises(ValidationError):
            services.note_delete(note=note, actor=self.mia, is_admin=False)
        services.note_delete(note=note, actor=self.alice, is_admin=True)
        assert not HuddleNote.objects.exists()
