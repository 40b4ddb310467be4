import numpy as np

from personseg.quality import boundary_f, dice, iou, mean_scores


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
    from personseg.quality import agreement_iou

    truth = np.zeros((1, 8, 8), np.uint8)
    truth[0, :, :2] = 255  # padding columns
    truth[0, 2:6, 3:6] = 1
    fp32 = truth == 1
    int8 = fp32.copy()
    int8[0, :, :2] = True  # disagrees only on the padding
    assert agreement_iou(int8, fp32, truth) == 1.0
    assert agreement_iou(int8, fp32) < 0.6


def _person(size: int = 64, band: int = 0) -> np.ndarray:
    """A square person; ``band`` px of its edge (each side of the contour) unlabelled, as a trimap leaves it."""
    truth = np.zeros((size, size), np.uint8)
    truth[16 - band:48 + band, 16 - band:48 + band] = 255
    truth[16 + band:48 - band, 16 + band:48 - band] = 1
    return truth


def test_boundary_f_a_perfect_prediction_whose_edge_lies_in_the_ignore_band_scores_one():
    for band in (2, 4, 8):
        truth = _person(band=band)
        square = np.zeros((64, 64), bool)
        square[16:48, 16:48] = True  # the contour in the middle of the band: right on every labelled pixel
        assert iou(square, truth) == 1.0
        assert boundary_f(square, truth) == 1.0, band
        inner = np.zeros((64, 64), bool)
        inner[16 + band:48 - band, 16 + band:48 - band] = True  # the band's inner edge: also consistent
        assert boundary_f(inner, truth) == 1.0, band
        # a wrong contour is still wrong: 6 px beyond the band on every side
        wide = np.zeros((64, 64), bool)
        wide[10 - band:54 + band, 10 - band:54 + band] = True
        assert boundary_f(wide, truth) == 0.0
        assert boundary_f(np.zeros((64, 64), bool), truth) == 0.0  # missing the person


def test_boundary_f_ignores_predictions_inside_the_letterbox_padding():
    truth = np.zeros((64, 64), np.uint8)
    truth[:, :8] = truth[:, 56:] = 255  # letterbox padding left and right
    truth[16:48, 8:40] = 1  # a person cut by the photograph's left edge
    perfect = truth == 1
    assert boundary_f(perfect, truth) == 1.0
    into = perfect.copy()
    into[16:48, :8] = True  # the person continued into the padding: same IoU, same contour in the photograph
    assert iou(into, truth) == 1.0 and boundary_f(into, truth) == 1.0
    pred = np.zeros((64, 64), bool)
    pred[18:48, 8:38] = True  # imperfect, 2 px off on two sides
    clean = boundary_f(pred, truth)
    assert 0.0 < clean < 1.0
    junk = pred.copy()
    junk[:, :8] = junk[20:30, 58:64] = True  # person predicted in the padding
    assert iou(junk, truth) == iou(pred, truth) and boundary_f(junk, truth) == clean


def test_boundary_f_tolerance_is_the_davis_one_in_pixels_or_diagonal():
    truth = _person()
    shifted = np.zeros((64, 64), bool)
    shifted[16:48, 18:50] = True  # 2 px to the right
    assert boundary_f(shifted, truth, tolerance=2) == 1.0
    assert boundary_f(shifted, truth, tolerance=1) < 1.0
    assert boundary_f(shifted, truth) == boundary_f(shifted, truth, tolerance=1)  # ceil(0.008 x 90.5 px) = 1
