"""The linear learning-rate decay of SN-GAN, driven by the generator counter."""


def linear_decay(g_iter: int, start: int | None, end: int) -> float:
    """LR factor: 1 until ``start``, then linearly to 0 at ``end`` (None: no decay)."""
    if start is None or g_iter <= start or end <= start:
        return 1.0
    return max(0.0, 1.0 - (g_iter - start) / (end - start))
