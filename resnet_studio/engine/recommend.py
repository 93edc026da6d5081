"""What the setup panel suggests for a scanned data set: the one rule, in plain data.

No torch here (the panel asks on every scan). Small photos (a median shorter side below
`config.SMALL_STEM_BELOW` px: scans, icons, thumbnails, microscopy tiles) train better and
faster on the paper's CIFAR ResNets, from scratch, at about their own size, than on the
ImageNet family, whose 7x7 stride-2 stem and max-pool shrink a 32 px photo to 8 px before
the first block.

    suggestion(scan.median_side, scan.num_train, config)  # Suggestion or None
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import SETTINGS, SMALL_STEM_BELOW, TrainConfig, is_cifar_depth

__all__ = ["Suggestion", "suggestion", "suggested_image_size", "LARGE_SMALL_IMAGE_SET"]

#: from this many training images on, the deeper ResNet-56 is suggested (ResNet-20 below)
LARGE_SMALL_IMAGE_SET = 20_000


@dataclass(frozen=True)
class Suggestion:
    depth: int
    image_size: int
    why: str  # one line, for the panel
    settings: dict  # the TrainConfig fields Apply sets

    def applies_to(self, config: TrainConfig) -> bool:
        """Whether `config` already follows the suggestion."""
        return all(getattr(config, k) == v for k, v in self.settings.items())


def suggested_image_size(median_side: int) -> int:
    """An image size near the photos' own: the median side rounded to a multiple of 8, within the limits."""
    low = int(SETTINGS["image_size"].minimum)
    return max(low, min(SMALL_STEM_BELOW - 8, 8 * round(median_side / 8)))


def suggestion(median_side: int | None, num_train: int | None, config: TrainConfig) -> Suggestion | None:
    """A CIFAR ResNet at about the photos' own size when they are small, else None.

    Nothing is suggested for photos of SMALL_STEM_BELOW px or more, for an unknown size, or
    when the configuration already is a CIFAR ResNet at that size, from scratch."""
    if not isinstance(median_side, int) or median_side >= SMALL_STEM_BELOW or median_side < 1:
        return None
    depth = 56 if (num_train or 0) >= LARGE_SMALL_IMAGE_SET else 20
    size = suggested_image_size(median_side)
    settings = {"depth": depth, "image_size": size, "weights": "none"}
    if is_cifar_depth(config.depth) and config.image_size == size and str(config.weights) != "imagenet":
        return None
    current = f"ResNet-{config.depth}" if not is_cifar_depth(config.depth) else "a larger image size"
    why = (
        f"Your photos are about {median_side} px: ResNet-{depth} at {size} px (a network for small images, "
        f"trained from scratch) trains faster and better than {current} here"
    )
    return Suggestion(depth, size, why, settings)
