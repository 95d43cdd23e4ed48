"""A drawn digit made into MNIST's 28x28 format: bounding box into 20x20 with
its aspect ratio kept, centre of mass at the field's centre."""
import numpy as np
import pytest
from scipy import ndimage

from cnnviz import CnnvizError
from cnnviz.data.digits import mnist_digit


def test_square_in_a_corner_fills_the_central_20x20_box():
    canvas = np.zeros((224, 224), np.uint8)
    canvas[10:60, 5:55] = 255                        # a 50x50 blot in the top-left corner
    digit = mnist_digit(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows, cols = np.nonzero(digit)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 23, 4, 23)
    assert (digit[4:24, 4:24] == 255).all()
    assert ndimage.center_of_mass(digit) == pytest.approx((13.5, 13.5))


def test_aspect_ratio_is_kept_and_the_longer_side_is_20():
    canvas = np.zeros((224, 224), np.uint8)
    canvas[150:190, 100:120] = 255                   # 40 tall, 20 wide, low on the pad
    digit = mnist_digit(canvas)
    rows, cols = np.nonzero(digit > 127)
    assert rows.max() - rows.min() + 1 == 20
    assert cols.max() - cols.min() + 1 == 10
    assert ndimage.center_of_mass(digit) == pytest.approx((13.5, 13.5), abs=0.5)


def test_centre_of_mass_not_box_centre_is_centred():
    canvas = np.zeros((100, 100), np.uint8)
    canvas[0:20, 0:20] = 255                         # a heavy block ...
    canvas[9:11, 20:60] = 255                        # ... with a thin bar to its right: the box is 20 x 60
    digit = mnist_digit(canvas)
    com = ndimage.center_of_mass(digit)
    assert com == pytest.approx((13.5, 13.5), abs=0.5)
    rows, cols = np.nonzero(digit)
    assert cols.min() > 4                            # the heavy end moved right, past where the box would start


def test_empty_drawing_gives_an_empty_field_and_bad_shape_a_clear_error():
    assert not mnist_digit(np.zeros((50, 50))).any()
    with pytest.raises(CnnvizError, match="one grey image"):
        mnist_digit(np.zeros((5, 5, 3)))
