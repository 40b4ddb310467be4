"""Pseudo-labelling photos of people with a teacher segmenter.

A teacher maps a picture to per-pixel person probabilities; a confidence band turns them into a
mask plus ignore pixels (where the teacher is unsure), which training and IoU skip. Nothing here
imports mediapipe at module level, so the package loads and is tested without it.
"""

from personseg.labeling.band import Band, apply_band
from personseg.labeling.teacher import Teacher, get_teacher, teacher_names

__all__ = ["Band", "Teacher", "apply_band", "get_teacher", "teacher_names"]
