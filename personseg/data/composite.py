"""Copy-paste compositing: people cut out of training photos, pasted onto other backgrounds.

Why: with a few dozen training photos a model learns their backgrounds as much as their people, and
on other photographs it marks walls and furniture that looked like the training set's. A composite
keeps every person's pixels and mask but changes what is around them. The background is one of:

- ``inpainted``: the sample's own photo with its people filled in from their surroundings (blurred
  estimates, coarse to fine), so the room stays but nobody is in it;
- ``procedural``: a generated texture (colour noise, a gradient, stripes);
- ``photo``: another training photo, with its own labels (its people stay people);
- ``scene``: with ``--backgrounds``, a crop of a photo with nobody in it (``personseg.data.scenes``).
  The four kinds are then equally likely.

With ``background_hue`` the background's colours are turned by up to that fraction of the colour
wheel before anyone is pasted (the pasted people keep their colours; people already in a ``photo``
background turn with it): the training photos' walls are grey and
their parks green, and a model that learns "grey or green is background" marks a blue studio backdrop or
a flag as person. Over 5 seeds of ``personseg train`` at the demo budget it raised IoU on the real
photographs from 0.561 to 0.580, but the pipeline's deployed model did not gain
(docs/experiments/real-photo-errors.md), so it is off unless asked.

Then 1-3 people cut from training samples (the sample's own first, on a new background) are pasted
at a random scale, position and flip. A person's uncertain rim (the teacher's ignore band next to
the mask, plus ``RIM`` pixels on the mask's edge) is pasted with the person but labelled ``IGNORE``,
so the loss never learns from the halo a hard cut leaves. Masks and pixels are moved by the same
integer placement and nearest-sampled masks, so they stay aligned (``tests/test_composite.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from personseg.data import IGNORE
from personseg.data.photometric import randint, rotate_hue, uniform
from personseg.data.scenes import Scenes

BACKGROUNDS = ("inpainted", "procedural", "photo")  # "scene" joins them when there are scenes
RIM = 1  # pixels each side of a mask's edge labelled IGNORE when pasted
MAX_PEOPLE = 3
SCALE = (0.5, 1.1)  # pasted size relative to the person's size in its own photo
Sample = tuple[torch.Tensor, torch.Tensor]  # image (3, S, S) float in [0, 1], labels (1, S, S) uint8


@dataclass(frozen=True)
class Cutout:
    """One person cropped to their box: pixels, person mask and uncertain rim (both bool, (h, w))."""

    image: torch.Tensor
    person: torch.Tensor
    rim: torch.Tensor


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Square dilation of a bool (H, W) mask by ``radius`` pixels, one pixel per step by shifted ORs."""
    out = mask.clone()
    for _ in range(radius):
        rows = out.clone()
        rows[1:] |= out[:-1]
        rows[:-1] |= out[1:]
        out = rows.clone()
        out[:, 1:] |= rows[:, :-1]
        out[:, :-1] |= rows[:, 1:]
    return out


def cut_person(sample: Sample) -> Cutout | None:
    """The sample's people as one cutout (None when it has no person pixels)."""
    image, labels = sample
    person = labels[0] == 1
    if not person.any():
        return None
    eroded = ~_dilate(~person, RIM)
    edge = _dilate(person, RIM) & ~eroded  # RIM pixels each side of the mask's boundary
    rim = edge | _near_ignore(labels[0])
    rows, cols = rim.any(1).nonzero()[:, 0], rim.any(0).nonzero()[:, 0]  # the rim encloses the person
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    return Cutout(image[:, box[0], box[1]], eroded[box], rim[box])


def paste(canvas: Sample, cut: Cutout, scale: float, top: int, left: int, flip: bool) -> Sample:
    """``cut`` resized by ``scale`` and pasted with its top-left at (top, left); parts off the canvas are dropped."""
    image, labels = canvas[0].clone(), canvas[1].clone()
    size = image.shape[-1]
    h, w = (max(1, round(n * scale)) for n in cut.person.shape)
    pixels = F.interpolate(cut.image[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    masks = F.interpolate(torch.stack([cut.person, cut.rim])[None].float(), size=(h, w), mode="nearest")[0] > 0.5
    if flip:
        pixels, masks = pixels.flip(-1), masks.flip(-1)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + h, size), min(left + w, size)
    if y0 >= y1 or x0 >= x1:
        return image, labels
    src = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    person, rim = masks[0][src], masks[1][src] & ~masks[0][src]
    region = person | rim
    image[:, y0:y1, x0:x1] = torch.where(region, pixels[:, src[0], src[1]], image[:, y0:y1, x0:x1])
    window = labels[0, y0:y1, x0:x1]
    window[rim] = IGNORE
    window[person] = 1
    return image, labels


def inpaint(sample: Sample) -> Sample:
    """The sample with its people (and their rim) filled in from the surroundings and labelled background."""
    image, labels = sample
    hole = _dilate((labels[0] == 1) | _near_ignore(labels[0]), RIM + 1)
    known = (~hole).float()[None, None]
    size = image.shape[-1]
    estimate = image.mean(dim=(1, 2), keepdim=True).expand_as(image).clone()
    for factor in (32, 16, 8, 4, 2):  # coarse to fine: finer levels overwrite where they have support
        if factor >= size:
            continue
        num = F.avg_pool2d(image[None] * known, factor, ceil_mode=True)
        den = F.avg_pool2d(known, factor, ceil_mode=True)
        num, den = (F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0] for t in (num, den))
        estimate = torch.where(den > 0.05, num / den.clamp_min(1e-6), estimate)
    out = torch.where(hole, estimate, image)
    new_labels = labels.clone()
    new_labels[0][hole] = 0
    return out, new_labels


def _near_ignore(labels: torch.Tensor) -> torch.Tensor:
    """IGNORE pixels next to a person (the teacher's rim), not the letterbox padding far from anyone."""
    return (labels == IGNORE) & _dilate(labels == 1, 4 * RIM)


def procedural(size: int, gen: torch.Generator) -> Sample:
    """A generated background: low-frequency colour noise over a gradient, with stripes half the time."""
    cells = randint(gen, 2, 8)
    noise = torch.rand(1, 3, cells, cells, generator=gen)
    image = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)[0]
    ramp = torch.linspace(0, 1, size)
    gradient = ramp[None, :, None] if torch.rand(1, generator=gen).item() < 0.5 else ramp[None, None, :]
    image = 0.6 * image + 0.4 * gradient * torch.rand(3, 1, 1, generator=gen)
    if torch.rand(1, generator=gen).item() < 0.5:
        angle = uniform(gen, 0, 3.1416)
        period = uniform(gen, 4, size / 4)
        yy, xx = torch.meshgrid(ramp * size, ramp * size, indexing="ij")
        stripes = torch.sin((xx * torch.cos(torch.tensor(angle)) + yy * torch.sin(torch.tensor(angle))) / period)
        image = image * (0.75 + 0.25 * stripes)[None]
    return image.clamp(0, 1), torch.zeros(1, size, size, dtype=torch.uint8)


def compose(sample: Sample, donor: Callable[[], Sample], gen: torch.Generator, background_hue: float = 0.0,
            scenes: Scenes | None = None) -> Sample:
    """A composite of ``sample`` (module docstring); ``donor()`` returns another training sample, drawn by ``gen``.

    ``background_hue``: the largest turn of the background's colours, as a fraction of the wheel (0: off).
    ``scenes``: photos with nobody in them, a fourth kind of background.
    """
    size = sample[0].shape[-1]
    kinds = BACKGROUNDS + (("scene",) if scenes is not None else ())
    kind = kinds[randint(gen, 0, len(kinds) - 1)]
    if kind == "inpainted":
        canvas, people = inpaint(sample), []
    else:
        if kind == "scene":
            canvas = scenes.draw(size, gen)
        elif kind == "procedural":
            canvas = procedural(size, gen)
        else:
            canvas = donor()
        own = cut_person(sample)
        people = [own] if own is not None else []
    if background_hue > 0:
        canvas = rotate_hue(canvas[0], uniform(gen, -background_hue, background_hue)), canvas[1]
    for _ in range(randint(gen, 1, MAX_PEOPLE) - len(people)):
        people.append(cut_person(donor()))
    for cut in people:
        if cut is None:
            continue
        scale = uniform(gen, *SCALE)
        h, w = (round(n * scale) for n in cut.person.shape)
        top = randint(gen, -h // 10, max(-h // 10, size - h // 2))
        left = randint(gen, -w // 4, max(-w // 4, size - 3 * w // 4))
        canvas = paste(canvas, cut, scale, top, left, torch.rand(1, generator=gen).item() < 0.5)
    return canvas
