"""What every plotly figure of the app shares: type readable on a projector (14 px at the least,
dark ink) on a white page that prints cleanly. Each page picks its type size, height and
margins; the rest is one definition."""

FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK = "#17202a"


def font(size: int) -> dict:
    return {"family": FONT_FAMILY, "size": size, "color": INK}


def layout(size: int, entries: dict) -> dict:
    """A plotly layout in the app's type at `size` px; `entries` (height, margin, axes...) add
    to it or override it."""
    text = font(size)
    return {
        "template": "plotly_white",
        "font": text,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hoverlabel": {"font": text},
        **entries,
    }
