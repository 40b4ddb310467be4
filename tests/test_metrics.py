import numpy as np

from personseg.metrics import boundary_f, dice, iou, mean_scores


def test_iou_dice_known_values():
    pred = np.zeros((10, 10), bool)
    pred[0:5] = True
    truth = np.zeros((10, 10), np.uint8)
    truth[0:10, 0:5] = 1
    assert iou(pred, truth) == 25 / 75
    assert dice(pred, truth) == 50 / 100
    assert iou(np.zeros((4, 4)), np.zeros((4, 4), np.uint8)) == 1.0


def test_ignore_pixels_do_not_count():
    pred = np.ones((4, 4), bool)
    truth = np.full((4, 4), 255, np.uint8)
    truth[0, 0] = 1
    assert iou(pred, truth) == 1.0


def test_boundary_f_perfect_and_shifted():
    truth = np.zeros((64, 64), np.uint8)
    truth[16:48, 16:48] = 1
    assert boundary_f(truth.astype(bool), truth) == 1.0
    shifted = np.roll(truth, 10, axis=1).astype(bool)
    assert boundary_f(shifted, truth) < 0.7
    scores = mean_scores(np.stack([truth.astype(bool)] * 2), np.stack([truth] * 2))
    assert scores == {"iou": 1.0, "dice": 1.0, "boundary_f": 1.0}


def test_agreement_skips_ignore_pixels_when_given_the_labels():
    """INT8 and FP32 masks that differ only on the letterbox padding (ignore) agree fully: the padding
    is never served, and counting it failed the quantize gate on the demo photos."""
    from personseg.metrics import agreement_iou

    truth = np.zeros((1, 8, 8), np.uint8)
    truth[0, :, :2] = 255  # padding columns
    truth[0, 2:6, 3:6] = 1
    fp32 = truth == 1
    int8 = fp32.copy()
    int8[0, :, :2] = True  # disagrees only on the padding
    assert agreement_iou(int8, fp32, truth) == 1.0
    assert agreement_iou(int8, fp32) < 0.6
