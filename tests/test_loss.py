"""The training losses on hand-made tensors."""

import torch

from personseg.training.loss import distill_loss


def test_distillation_skips_ignore_and_padding_pixels():
    """What student and teacher say on IGNORE pixels (ignore maps, letterbox padding) does not move the loss."""
    torch.manual_seed(0)
    labels = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    labels[:, :, :, :2] = 255  # padding columns
    labels[:, :, 3:5, 3:5] = 1
    student, teacher = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    other = student.clone()
    other[:, :, :, :2] += 5.0  # differs only on the padding
    other_teacher = teacher.clone()
    other_teacher[:, :, :, :2] -= 5.0
    base = distill_loss(student, teacher, labels)
    assert torch.allclose(distill_loss(other, other_teacher, labels), base)
    valid = labels != 255
    expected = torch.nn.functional.binary_cross_entropy_with_logits(student[valid], torch.sigmoid(teacher[valid]))
    assert torch.allclose(base, expected)  # the mean over valid pixels
    assert distill_loss(student, teacher, torch.full_like(labels, 255)).item() == 0.0  # nothing valid: no NaN
