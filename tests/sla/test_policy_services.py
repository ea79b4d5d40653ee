"""Calendar and policy writes refuse what would break a deadline later, with field messages."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from revops.tenancy.context import organization_scope
from sla import services
from sla.models import SlaKind
from tests.base import TwoOrganizationsTestCase

WEEKDAYS = ["09:00-12:00, 13:00-17:00"] * 5 + ["", ""]


def values(**overrides) -> services.CalendarValues:
    fields = {"name": "Augsburg office", "timezone": "Europe/Berlin", "always_open": False,
              "hours_by_weekday": WEEKDAYS, "holiday_country": "de"}  # fmt: skip
    return services.CalendarValues(**{**fields, **overrides})


class CalendarAndPolicyValidationTests(TwoOrganizationsTestCase):
    def setUp(self):
        self.scope = organization_scope(self.org_a)
        self.scope.__enter__()
        self.addCleanup(self.scope.__exit__, None, None, None)

    def test_a_subdivision_is_matched_whatever_its_case_and_kept_as_the_package_spells_it(self):
        calendar = services.calendar_save(values=values(holiday_subdivision="AUGSBURG"))
        assert (calendar.holiday_country, calendar.holiday_subdivision) == ("DE", "Augsburg")
        # Augsburg's own holiday, the Peace Festival on 8 August, is not a working day.
        assert calendar.compiled.is_holiday(date(2026, 8, 8))
        by = services.calendar_save(values=values(name="Munich", holiday_subdivision="by"))
        assert by.holiday_subdivision == "BY"

    def test_bad_calendar_input_is_reported_per_field(self):
        with pytest.raises(ValidationError) as error:
            services.calendar_save(
                values=values(
                    hours_by_weekday=["09:00-13:00, 12:00-17:00", *WEEKDAYS[1:]],
                    holiday_country="XX",
                )
            )
        messages = error.value.message_dict
        assert "overlap" in messages["working_hours_0"][0]
        assert "not a supported country" in messages["holiday_country"][0]
        with pytest.raises(ValidationError) as error:
            services.calendar_save(values=values(hours_by_weekday=[""] * 7))
        assert "some working time" in error.value.message_dict["working_hours"][0]

    def test_a_target_longer_than_a_year_or_an_overlong_segment_is_refused(self):
        with pytest.raises(ValidationError) as error:
            services.policy_create_version(
                kind=SlaKind.FOLLOW_UP, actor=self.alice, target_minutes=10**9
            )
        assert error.value.message_dict["target_minutes"] == ["Allow at most a year."]
        with pytest.raises(ValidationError) as error:
            services.policy_create_version(
                kind=SlaKind.SQL_VOLUME, actor=self.alice, enabled=True,
                segment_field="industry", segment_targets={"x" * 101: 5},
            )  # fmt: skip
        assert "segment_targets" in error.value.message_dict
        assert services.current_policies()[SlaKind.FOLLOW_UP].version == 1
