"""The huddle pages: this week's and any week's, frozen past weeks, the CSV of each chart, action
items and notes through htmx and plain forms; who may see and change what, across tenants; bad
input answered with 400 and the field's message."""

import csv
import html
import io
import re
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from huddle import selectors, services
from huddle.models import ActionItem, Huddle, HuddleNote, HuddleSettings, ItemStatus, Team
from leads import services as lead_services
from revops.tenancy.context import organization_scope
from tests.huddle.base import OPENED, WEEK, HuddleTestCase, at

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    """The page's visible text, tags stripped and spaces collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


class HuddlePageTestCase(HuddleTestCase):
    def setUp(self):
        super().setUp()
        self.now = timezone.now()
        self.this_week = selectors.week_start_of(selectors.local_date(self.now))


class PageTests(HuddlePageTestCase):
    def test_the_huddle_address_opens_this_weeks_huddle(self):
        client = self.browser_as(self.bob)
        response = client.get(self.url("huddle_current"))
        assert response.status_code == 302
        assert response["Location"] == self.week_url(self.this_week)
        page = client.get(response["Location"])
        assert page.status_code == 200
        huddle = Huddle.objects.get(week_start=self.this_week)
        assert huddle.figures["schema"] == selectors.FIGURES_SCHEMA and huddle.figures_at
        body = text(page)
        for heading in ("1 Pipeline health", "2 Lead-quality feedback", "3 SLAs",
                        "4 Next week's joint activities"):  # fmt: skip
            assert heading in body
        assert "They refresh each time the huddle is opened this week" in body

    def test_any_day_names_its_week(self):
        wednesday = self.this_week + timedelta(days=2)
        response = self.browser_as(self.bob).get(self.week_url(wednesday))
        assert response.status_code == 302
        assert response["Location"] == self.week_url(self.this_week)

    def test_a_past_huddle_shows_its_frozen_figures_not_todays(self):
        self.build_week()
        services.huddle_open(week_start=WEEK, now=OPENED)
        # After the week: more SQLs and a big deal, and the snapshot recomputed.
        for name in ("Eve", "Fay"):
            self.sql(name, at(12, 16))
        lead = self.sql("Gus", at(13, 10))
        lead_services.lead_accept(lead=lead, actor=self.bob, now=at(13, 11))
        lead_services.lead_convert(lead=lead, actor=self.bob, amount=Decimal(90000),
                                   now=at(13, 12))  # fmt: skip
        self.snapshot()
        today = selectors.huddle_figures(week_start=WEEK, now=at(13, 13))["pipeline"]
        assert today["sqls"] == 6 and today["open_value"] == 102000.0

        page = self.browser_as(self.alice).get(self.week_url(WEEK))
        assert page.status_code == 200
        body = text(page)
        assert "Frozen: the figures as they were on Wed 12 Mar 2025, 15:00" in body
        tile = re.search(r'data-testid="tile-sqls">(.*?)</div>\s*</div>', page.content.decode(),
                         re.S).group(1)  # fmt: skip
        assert re.search(r'tile-value">4<', tile)
        assert "12,000 USD" in body and "102,000 USD" not in body
        assert "Ada Corp opportunity" in body  # the stalled deal, as listed then

    def test_a_past_week_without_a_huddle_is_not_found_and_a_future_one_is_not_created(self):
        client = self.browser_as(self.bob)
        past = client.get(self.week_url(self.this_week - timedelta(days=14)))
        assert past.status_code == 404
        assert "No huddle was held in the week of" in text(past)
        ahead = client.get(self.week_url(self.this_week + timedelta(days=7)))
        assert ahead.status_code == 200
        assert "This week has not begun" in text(ahead)
        assert not Huddle.objects.exists()

    def test_a_bad_date_is_a_400_naming_the_field(self):
        client = self.browser_as(self.bob)
        for bad in ("2025-02-30", "2025-13-01", "1999-12-27"):
            response = client.get(f"/o/acme-test/huddle/{bad}/")
            assert response.status_code == 400, bad
            assert "week:" in text(response)
        assert client.get("/o/acme-test/huddle/2025-2-3/").status_code == 404  # not a date shape

    def test_history_lists_the_huddles_newest_first(self):
        services.huddle_open(week_start=WEEK, now=OPENED)
        services.huddle_open(week_start=WEEK + timedelta(days=7), now=OPENED + timedelta(days=7))
        page = self.browser_as(self.vera).get(self.url("huddle_history"))
        assert page.status_code == 200
        body = text(page)
        assert body.index("Week of Mon 17 Mar 2025") < body.index("Week of Mon 10 Mar 2025")
        assert "frozen Wed 12 Mar, 15:00" in body
        assert 'data-testid="huddle-settings"' not in page.content.decode()  # admins only


class CsvTests(HuddlePageTestCase):
    def rows(self, response) -> list[list[str]]:
        return list(csv.reader(io.StringIO(response.content.decode())))

    def test_each_chart_exports_the_stored_figures_as_csv(self):
        self.build_week()
        services.huddle_open(week_start=WEEK, now=OPENED)
        client = self.browser_as(self.vera)
        week = WEEK.isoformat()
        response = client.get(self.url("huddle_chart_csv", week, "feedback"))
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert 'filename="huddle-2025-03-10-feedback.csv"' in response["Content-Disposition"]
        assert self.rows(response) == [
            ["campaign", "ratings", "average_score", "rejections"],
            ["Spring webinar", "2.0", "3.0", "0.0"],
            ["Trade show", "0.0", "", "1.0"],
        ]
        rejections = self.rows(client.get(self.url("huddle_chart_csv", week, "rejections")))
        assert rejections == [["reason", "rejections"], ["No budget", "1.0"]]
        pipeline = self.rows(client.get(self.url("huddle_chart_csv", week, "pipeline")))
        assert pipeline[0][:3] == ["week_end", "velocity_per_day", "open_opportunities"]
        assert len(pipeline) == 1 + selectors.TREND_WEEKS and pipeline[-1][0] == "2025-03-11"
        sla = self.rows(client.get(self.url("huddle_chart_csv", week, "sla")))
        assert sla[0] == ["week_end", "team", "on_time", "breached", "compliance_percent"]
        assert ["2025-03-11", "Sales", "3", "1", "75.0"] in sla
        assert ["2025-03-11", "Marketing", "1", "2", "33.3"] in sla

    def test_a_cell_a_spreadsheet_would_run_stays_text(self):
        self.build_week()
        campaign = lead_services.campaign_create(actor=self.alice, name="=HYPERLINK(1)",
                                                 channel="email")  # fmt: skip
        lead = self.sql("Hal", at(11, 10), campaign)
        lead_services.feedback_rate(lead=lead, actor=self.bob, rating=3, now=at(11, 11))
        lead.feedback.update(created_at=at(11, 11))
        self.snapshot()
        services.huddle_open(week_start=WEEK, now=OPENED)
        rows = self.rows(self.browser_as(self.bob).get(
            self.url("huddle_chart_csv", WEEK.isoformat(), "feedback")))  # fmt: skip
        assert ["'=HYPERLINK(1)", "1.0", "3.0", "0.0"] in rows

    def test_unknown_charts_and_weeks_without_figures_are_not_found(self):
        client = self.browser_as(self.bob)
        week = WEEK.isoformat()
        assert client.get(self.url("huddle_chart_csv", week, "feedback")).status_code == 404
        services.huddle_open(week_start=WEEK, now=OPENED)
        assert client.get(self.url("huddle_chart_csv", week, "payroll")).status_code == 404
        assert client.get(self.url("huddle_chart_csv", week, "sla")).status_code == 200


class ActionItemPageTests(HuddlePageTestCase):
    def add_url(self, week=None):
        return self.url("huddle_item_add", (week or self.this_week).isoformat())

    def item_values(self, **extra):
        return {"title": "Review the rejected leads together", "owner": self.bob.pk,
                "team": Team.JOINT, "due_on": (self.this_week + timedelta(days=4)).isoformat(),
                **extra}  # fmt: skip

    def test_a_member_adds_an_item_with_htmx_and_it_appears_in_next_weeks_huddle(self):
        client = self.browser_as(self.bob)
        response = client.post(self.add_url(), self.item_values(), **HTMX)
        assert response.status_code == 200
        assert 'id="huddle-actions"' in response.content.decode()
        assert "Review the rejected leads together" in text(response)
        item = ActionItem.objects.get()
        assert (item.huddle.week_start, item.owner, item.created_by, item.status) == (
            self.this_week, self.bob, self.bob, ItemStatus.OPEN,
        )  # fmt: skip
        following = client.get(self.week_url(self.this_week + timedelta(days=7)))
        body = text(following)
        assert "Review the rejected leads together" in body
        assert f"Carried over from the week of {self.this_week:%-d %b}" in body

    def test_a_plain_form_post_redirects_back_to_the_agenda_item(self):
        response = self.browser_as(self.alice).post(self.add_url(), self.item_values())
        assert response.status_code == 302
        assert response["Location"] == self.week_url(self.this_week) + "#actions"

    def test_bad_items_get_a_400_with_each_fields_message(self):
        client = self.browser_as(self.bob)
        response = client.post(
            self.add_url(),
            self.item_values(title="", owner=self.charlie.pk, team="finance",
                             due_on="2025-02-30"),
            **HTMX,
        )  # fmt: skip
        assert response.status_code == 400
        body = text(response)
        assert "This field is required." in body
        assert "Select a valid choice. That choice is not one of the available choices." in body
        assert "Select a valid choice. finance is not one of the available choices." in body
        assert "Enter a valid date." in body
        # Without htmx the whole page comes back, with the same messages.
        page = client.post(self.add_url(), self.item_values(due_on="2099-01-01"))
        assert page.status_code == 400
        assert "Choose a date within a year of today." in text(page)
        assert not ActionItem.objects.exists()

    def test_done_dropped_and_reopened(self):
        with organization_scope(self.org_a):
            item = services.action_item_create(week_start=self.this_week, actor=self.alice,
                                               title="Call Ada", owner=None, team=Team.SALES,
                                               due_on=None, now=self.now)  # fmt: skip
        client = self.browser_as(self.bob)
        url = self.url("huddle_item_status", self.this_week.isoformat(), item.pk)
        assert client.post(url, {"status": "done"}, **HTMX).status_code == 200
        item.refresh_from_db()
        assert item.status == ItemStatus.DONE and item.closed_at is not None
        assert client.post(url, {"status": "open"}, **HTMX).status_code == 200
        item.refresh_from_db()
        assert (item.status, item.closed_at) == (ItemStatus.OPEN, None)
        bad = client.post(url, {"status": "someday"}, **HTMX)
        assert bad.status_code == 400 and "someday is not one of the available choices" in text(bad)

    def test_an_item_is_edited_in_place(self):
        with organization_scope(self.org_a):
            item = services.action_item_create(week_start=self.this_week, actor=self.alice,
                                               title="Draft", owner=None, team=Team.SALES,
                                               due_on=None, now=self.now)  # fmt: skip
        url = self.url("huddle_item_edit", self.this_week.isoformat(), item.pk)
        prefix = f"item-{item.pk}-"
        client = self.browser_as(self.alice)
        bad = client.post(url, {prefix + "title": "", prefix + "team": "joint"}, **HTMX)
        assert bad.status_code == 400 and "This field is required." in text(bad)
        good = client.post(url, {prefix + "title": "Final", prefix + "team": "marketing",
                                 prefix + "owner": self.bob.pk}, **HTMX)  # fmt: skip
        assert good.status_code == 200
        item.refresh_from_db()
        assert (item.title, item.team, item.owner) == ("Final", Team.MARKETING, self.bob)

    def test_a_viewer_reads_but_cannot_write(self):
        client = self.browser_as(self.vera)
        page = client.get(self.week_url(self.this_week))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-testid="item-add"' not in html and "Add note" not in html
        assert client.post(self.add_url(), self.item_values()).status_code == 403
        note = self.url("huddle_note_add", self.this_week.isoformat())
        assert client.post(note, {"section": "sla", "body": "x"}).status_code == 403
        assert not ActionItem.objects.exists() and not HuddleNote.objects.exists()

    def test_a_past_huddles_items_read_as_they_stood_and_cannot_be_changed_there(self):
        with organization_scope(self.org_a):
            services.huddle_open(week_start=WEEK, now=OPENED)
            item = services.action_item_create(week_start=WEEK, actor=self.alice, title="Old",
                                               owner=None, team=Team.SALES, due_on=None,
                                               now=OPENED)  # fmt: skip
        client = self.browser_as(self.alice)
        page = client.get(self.week_url(WEEK))
        html = page.content.decode()
        assert "This huddle's week is over" in text(page)
        assert 'data-testid="item-add"' not in html and 'data-testid="item-done"' not in html
        refused = client.post(self.add_url(WEEK), self.item_values(), **HTMX)
        assert refused.status_code == 400
        assert "This huddle's week is over; add items to the current huddle." in text(refused)
        # The open item is carried into this week's huddle, where it can be closed.
        assert "Old" in text(client.get(self.week_url(self.this_week)))
        assert item.huddle.week_start == WEEK


class NotePageTests(HuddlePageTestCase):
    def test_notes_are_added_with_author_and_time_and_deleted_by_their_author(self):
        client = self.browser_as(self.bob)
        url = self.url("huddle_note_add", self.this_week.isoformat())
        response = client.post(url, {"section": "feedback", "body": "Webinar leads are junk"},
                               **HTMX)  # fmt: skip
        assert response.status_code == 200
        assert 'id="notes-feedback"' in response.content.decode()
        assert "Webinar leads are junk" in text(response) and "Bob Sales" in text(response)
        note = HuddleNote.objects.get()
        assert (note.section, note.author, note.huddle.week_start) == (
            "feedback", self.bob, self.this_week,
        )  # fmt: skip
        page = text(client.get(self.week_url(self.this_week)))
        assert "Webinar leads are junk" in page

        delete = self.url("huddle_note_delete", self.this_week.isoformat(), note.pk)
        mia = self.browser_as(self.mia)
        assert mia.post(delete, **HTMX).status_code == 403
        assert self.browser_as(self.bob).post(delete, **HTMX).status_code == 200
        assert not HuddleNote.objects.exists()

    def test_bad_notes_get_a_400_with_the_fields_message(self):
        client = self.browser_as(self.bob)
        url = self.url("huddle_note_add", self.this_week.isoformat())
        empty = client.post(url, {"section": "sla", "body": ""}, **HTMX)
        assert empty.status_code == 400 and "This field is required." in text(empty)
        long = client.post(url, {"section": "sla", "body": "x" * 5001}, **HTMX)
        assert long.status_code == 400
        assert "Ensure this value has at most 5000 characters" in text(long)
        section = client.post(url, {"section": "gossip", "body": "hi"}, **HTMX)
        assert section.status_code == 400 and "section:" in section.content.decode()
        assert not HuddleNote.objects.exists()


class SettingsTests(HuddlePageTestCase):
    def test_an_admin_sets_the_target_and_the_stalled_threshold(self):
        client = self.browser_as(self.alice)
        url = self.url("huddle_settings")
        bad = client.post(url, {"stalled_after_days": "0", "monthly_revenue_target": "-5"})
        assert bad.status_code == 400
        body = text(bad)
        assert "Ensure this value is greater than or equal to 1." in body
        assert "Ensure this value is greater than or equal to 0." in body
        good = client.post(url, {"stalled_after_days": "21", "monthly_revenue_target": "50000"})
        assert good.status_code == 302
        settings = HuddleSettings.objects.get()
        assert (settings.stalled_after_days, settings.monthly_revenue_target) == (21, 50000)
        assert self.browser_as(self.bob).post(url, {"stalled_after_days": "3"}).status_code == 403


class TenancyTests(HuddlePageTestCase):
    """Charlie (organization B) sees nothing of A's huddles: every address answers 404."""

    def setUp(self):
        super().setUp()
        self.huddle = services.huddle_open(week_start=self.this_week, now=self.now)
        self.item = services.action_item_create(week_start=self.this_week, actor=self.alice,
                                                title="A's secret plan", owner=None,
                                                team=Team.JOINT, due_on=None,
                                                now=self.now)  # fmt: skip
        self.note = services.note_add(week_start=self.this_week, section="sla", body="A only",
                                      author=self.alice, now=self.now)  # fmt: skip

    def test_another_organizations_huddle_is_not_found(self):
        client = self.browser_as(self.charlie)
        week = self.this_week.isoformat()
        urls = [self.url("huddle_current"), self.week_url(self.this_week),
                self.url("huddle_history"), self.url("huddle_chart_csv", week, "sla")]  # fmt: skip
        for url in urls:
            assert client.get(url).status_code == 404, url
        for url, data in (
            (self.url("huddle_item_add", week), {"title": "x", "team": "joint"}),
            (self.url("huddle_item_status", week, self.item.pk), {"status": "done"}),
            (self.url("huddle_note_add", week), {"section": "sla", "body": "x"}),
            (self.url("huddle_note_delete", week, self.note.pk), {}),
            (self.url("huddle_settings"), {"stalled_after_days": "3"}),
        ):
            assert client.post(url, data).status_code == 404, url

    def test_ids_of_another_organization_are_not_found_in_ones_own(self):
        client = self.browser_as(self.charlie)
        week = self.this_week.isoformat()
        own = self.url("huddle_item_status", week, self.item.pk, org=self.org_b)
        assert client.post(own, {"status": "done"}).status_code == 404
        own_note = self.url("huddle_note_delete", week, self.note.pk, org=self.org_b)
        assert client.post(own_note).status_code == 404
        self.item.refresh_from_db()
        assert self.item.status == ItemStatus.OPEN and HuddleNote.objects.filter(pk=self.note.pk)
        # Charlie's own huddle of the same week is a separate row, without A's item.
        page = client.get(self.week_url(self.this_week, org=self.org_b))
        assert page.status_code == 200 and "A's secret plan" not in text(page)
        assert Huddle.objects.for_organization(self.org_b).count() == 1

    def test_anonymous_visitors_are_sent_to_log_in(self):
        response = self.client.get(self.week_url(self.this_week))
        assert response.status_code == 302 and "/login" in response["Location"]


class QueryCountTests(HuddlePageTestCase):
    """The page's queries are a fixed number whatever the data: lists are LIMITed, counts capped,
    related rows joined, and a past huddle reads only its stored record."""

    BOUND = 26  # this week's page, figures recomputed
    PAST_BOUND = 8  # a past huddle: stored figures, items and notes
    FRESH_BOUND = 8  # this week's, opened again within FIGURES_FRESH_FOR

    def grow(self, first: int, count: int) -> None:
        """`count` more of everything each list shows, dated around now."""
        for i in range(first, first + count):
            name = f"Grow{i}"
            lead = self.sql(name, self.now - timedelta(days=20, minutes=i))
            lead_services.touch_log(lead=lead, actor=self.bob, kind="call",
                                    at=self.now - timedelta(days=20))  # fmt: skip
            lead_services.lead_accept(lead=lead, actor=self.bob, now=self.now - timedelta(days=20))
            lead_services.lead_convert(lead=lead, actor=self.bob, amount=Decimal(1000 + i),
                                       now=self.now - timedelta(days=19))  # fmt: skip
            lead_services.feedback_rate(lead=lead, actor=self.bob, rating=2,
                                        now=self.now - timedelta(days=5))  # fmt: skip
            services.action_item_create(week_start=self.this_week, actor=self.alice,
                                        title=f"Item {name}", owner=self.bob, team=Team.JOINT,
                                        due_on=None, now=self.now)  # fmt: skip
            services.note_add(week_start=self.this_week, section="sla", body=f"Note {name}",
                              author=self.bob, now=self.now)  # fmt: skip
        from sla.sweep import sweep

        sweep(self.now)
        first = selectors.local_date(self.now) - timedelta(days=100)
        self.snapshot_range(first, selectors.local_date(self.now))

    def snapshot_range(self, first: date, last: date) -> None:
        from metrics.compute import snapshot_replace

        snapshot_replace(first, last)

    def count(self, url: str, *, stale: bool = False) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = self.browser_as(self.alice)
        client.get(url)  # the session's first page in the organization writes its key once
        if stale:  # the figures are older than FIGURES_FRESH_FOR: this opening recomputes them
            Huddle.objects.update(figures_at=timezone.now() - timedelta(minutes=2))
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured)

    def test_this_weeks_page_costs_a_fixed_number_of_queries(self):
        url = self.week_url(self.this_week)
        self.grow(0, 1)  # one of each: an empty list costs no query, a list of one does
        before = self.count(url, stale=True)
        self.grow(1, 3)
        after = self.count(url, stale=True)
        Huddle.objects.update(figures_at=timezone.now() - timedelta(minutes=2))
        page = text(self.browser_as(self.alice).get(url))
        assert "Grow0 Corp opportunity" in page and "Item Grow2" in page and "Note Grow1" in page
        assert before == after <= self.BOUND, (before, after)
        # Opened again within the minute: the stored figures, read like a past week's.
        assert self.count(url) <= self.FRESH_BOUND

    def test_a_past_huddle_reads_only_its_stored_record(self):
        with organization_scope(self.org_a):
            services.huddle_open(week_start=WEEK, now=OPENED)
        url = self.week_url(WEEK)
        before = self.count(url)
        self.grow(0, 2)
        assert self.count(url) == before <= self.PAST_BOUND
