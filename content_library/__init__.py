"""Content library: assets tagged by persona, stage and industry (not built yet)."""
