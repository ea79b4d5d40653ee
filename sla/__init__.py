"""SLA engine: business-hours timers and the minute sweep (issue 4; not built yet)."""
