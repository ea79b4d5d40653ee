"""plotly.js served by the app itself (no CDN): the plotly package's own copy, at
`static/plotly/plotly.min.js`, the same version as the Python side that builds the figures.
Only that one file: the package's folder also holds datasets and a widget bundle we don't serve.
"""

import importlib.util
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_DIR = Path(importlib.util.find_spec("plotly").origin).parent / "package_data"
PLOTLY_FILE = "plotly.min.js"
PREFIX = "plotly"


class PlotlyFinder(BaseFinder):
    def find(self, path, find_all=False, **kwargs):
        if path != f"{PREFIX}/{PLOTLY_FILE}":
            return []
        found = str(PLOTLY_DIR / PLOTLY_FILE)
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns):
        storage = FileSystemStorage(location=PLOTLY_DIR)
        storage.prefix = PREFIX
        yield PLOTLY_FILE, storage
