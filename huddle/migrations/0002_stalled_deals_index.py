"""The index behind the huddle's stalled-deals list (huddle.selectors.stalled_deals).

It lives on leads_lead but serves only the huddle, so it is created here, as SQL, rather than in
the Lead model: a partial index of the leads in the opportunity stage by when they entered it.
The huddle reads the oldest ones first and stops after a screenful (and counts at most 1,001), so
the read costs the same at 1,000,000 leads as at 100. It is small: open deals only.
"""

from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS huddle_stalled_deals
    ON leads_lead (organization_id, stage_changed_at, id)
    WHERE stage = 'opportunity'
"""
DROP = "DROP INDEX IF EXISTS huddle_stalled_deals"


class Migration(migrations.Migration):
    dependencies = [
        ("huddle", "0001_initial"),
        ("leads", "0001_initial"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
