"""Top patches in context: a crop around the receptive field (the whole image
for small inputs) and where the field lies in it, checked on boxes whose
answer is known."""
import numpy as np

from cnnviz.inside.top_patches import LayerTopK, context_crops, patch_crops


def _top(boxes, image_index):
    boxes = np.asarray(boxes)[None]
    n = boxes.shape[1]
    return LayerTopK("conv", np.array([0]), np.ones((1, n), np.float32), np.asarray(image_index)[None],
                     np.zeros((1, n, 2), np.int64), boxes)


def test_small_images_come_whole_with_the_field_where_it_was():
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28) % 251
    top = _top([[5, 6, 7, 8], [-1, -1, 1, 1]], [1, 0])           # a 3x3 field; one reaching past the corner
    out = context_crops(top, images)
    assert out.crops.shape == (1, 2, 28, 28, 1)
    assert (out.crops[0, 0, ..., 0] == images[1]).all()
    assert out.boxes[0].tolist() == [[5, 6, 7, 8], [0, 0, 1, 1]]     # clipped to the image
    bare = patch_crops(top, images)[0, 0, ..., 0]
    t, lf, b, r = out.boxes[0, 0]
    assert (out.crops[0, 0, t:b + 1, lf:r + 1, 0] == bare).all()     # the box holds the bare crop


def test_large_images_are_cropped_around_the_field_and_kept_inside():
    images = np.zeros((1, 224, 224, 3), np.uint8)
    top = _top([[100, 100, 139, 139], [0, 200, 39, 239]], [0, 0])    # 40-pixel fields: crops 3 x 40 = 120
    out = context_crops(top, images)
    assert out.crops.shape == (1, 2, 120, 120, 3)
    assert out.boxes[0, 0].tolist() == [40, 40, 79, 79]              # centred: crop from 60 to 179
    assert out.boxes[0, 1].tolist() == [0, 96, 39, 119]              # at the top right: the crop stays inside
    assert context_crops(top, images, side=50).crops.shape[2:4] == (50, 50)
