"""Leads: lifecycle, BANT qualification, hand-off and feedback (issue 3; not built yet)."""
