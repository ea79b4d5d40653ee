"""Unified metrics computed nightly into snapshots (issue 5; not built yet)."""
