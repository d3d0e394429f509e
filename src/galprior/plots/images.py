"""One image panel, the building block of every image figure."""

from __future__ import annotations


def show_image(ax, image, title=None, extent=None, cmap="magma", vmin=None, vmax=None):
    """Draw ``image`` (origin lower, no ticks) on ``ax`` with an optional small title."""
    im = ax.imshow(image, origin="lower", cmap=cmap, extent=extent, vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)
    return im
