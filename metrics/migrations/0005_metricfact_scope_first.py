# The facts' unique key reordered to (organization, dimension, member, day, measure), and an
# (organization, day) index for rewriting a range (metrics/models.py says why).
#
# Every organization's facts share this table, so its indexes are built CONCURRENTLY: the
# dashboards keep reading and the nightly run keeps writing while they build; only the final
# swap of the constraint onto the new index takes the table's lock, for a moment.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

SCOPE_FIRST = "(organization_id, dimension, member, day, measure)"
DAY_FIRST = "(organization_id, day, measure, dimension, member)"


def swap_to(columns: str, building: str) -> list[str]:
    """Build a unique index on `columns` beside the constraint, then make it the constraint."""
    return [
        f"CREATE UNIQUE INDEX CONCURRENTLY {building} ON metrics_metricfact {columns}",
        "ALTER TABLE metrics_metricfact DROP CONSTRAINT metricfact_unique, "
        f"ADD CONSTRAINT metricfact_unique UNIQUE USING INDEX {building}",
    ]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("metrics", "0004_metricfact_bulk_friendly"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="metricfact",
            index=models.Index(fields=["organization", "day"], name="metricfact_by_day"),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    swap_to(SCOPE_FIRST, "metricfact_unique_building"),
                    reverse_sql=swap_to(DAY_FIRST, "metricfact_unique_building"),
                ),
            ],
            state_operations=[
                migrations.RemoveConstraint(model_name="metricfact", name="metricfact_unique"),
                migrations.AddConstraint(
                    model_name="metricfact",
                    constraint=models.UniqueConstraint(
                        fields=("organization", "dimension", "member", "day", "measure"),
                        name="metricfact_unique",
                    ),
                ),
            ],
        ),
    ]
