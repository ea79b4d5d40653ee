"""Two more indexes that only the huddle's figures use (huddle.selectors), created here as SQL
on the tables they index, like 0002:

- huddle_feedback_clocks: marketing's feedback clocks (acknowledge, resolve) by deadline, for
  Marketing's weekly compliance (`feedback_clock_outcomes`). Without it the read goes through
  every timer due in those weeks, follow-ups included: ten times the rows.
- huddle_open_pipeline: the open deals' amounts (covering), so the open pipeline's count and
  value are an index-only scan of open deals instead of a read of their table rows.
"""

from django.db import migrations

FEEDBACK_CLOCKS = """
CREATE INDEX IF NOT EXISTS huddle_feedback_clocks
    ON sla_slatimer (organization_id, due_at)
    WHERE target IN ('acknowledge', 'resolve')
"""
OPEN_PIPELINE = """
CREATE INDEX IF NOT EXISTS huddle_open_pipeline
    ON leads_opportunity (organization_id) INCLUDE (amount, id)
    WHERE status = 'open'
"""


class Migration(migrations.Migration):
    dependencies = [
        ("huddle", "0002_stalled_deals_index"),
        ("leads", "0001_initial"),
        ("sla", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(FEEDBACK_CLOCKS, "DROP INDEX IF EXISTS huddle_feedback_clocks"),
        migrations.RunSQL(OPEN_PIPELINE, "DROP INDEX IF EXISTS huddle_open_pipeline"),
    ]
