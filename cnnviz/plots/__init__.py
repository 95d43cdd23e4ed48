"""Figures with matplotlib, one module per family; compute lives elsewhere."""

UNTRAINED_MARK = "UNTRAINED (random weights)"


def mark_untrained(fig, trained: bool) -> None:
    """Put UNTRAINED before a figure's title when its model has random weights,
    so no picture of an untrained network passes for a trained one's."""
    if trained:
        return
    title = fig.get_suptitle()
    fig.suptitle(f"{UNTRAINED_MARK}: {title}" if title else UNTRAINED_MARK, color="firebrick", fontsize=10)
