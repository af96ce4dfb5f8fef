"""One look for the report's plots: a distinct colour and line style per variant, the legend beside the axes."""

from __future__ import annotations

from matplotlib.axes import Axes

FIGSIZE = (9.5, 4.2)
"""wide enough for the axes and a legend of the study's 11 variants beside them"""


def colour(i: int) -> str:
    """Variant ``i``'s colour: matplotlib's 10-colour cycle (the eleventh variant takes the first colour again, and
    :func:`linestyle` tells them apart)."""
    return f"C{i % 10}"


def linestyle(i: int) -> str:
    """Solid for the first 10 variants, dashed for the next 10."""
    return ("-", "--", ":")[(i // 10) % 3]


def legend_beside(ax: Axes, fontsize: int = 8) -> None:
    """The legend to the right of the axes, where it hides no curve."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=fontsize, frameon=False)
