"""Tests for cnnviz.images: reading odd image files and making model inputs."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnviz.common.errors import CnnvizError
from cnnviz.data import images
from cnnviz.data.images import conform, normalize_image, read_image
from cnnviz.models.inputs import load_image, prepare
from cnnviz.models.preprocessing import preprocess


def _check_gray(image, shape):
    assert image.dtype == np.uint8
    assert image.shape == shape


def _check_rgb(image, shape):
    assert image.dtype == np.uint8
    assert image.shape == (*shape, 3)


# ---------------------------------------------------------------- tiny models

def _tiny_classifier(shape, name):
    import keras

    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name=name)


@pytest.fixture(scope="module")
def gray_model():
    return _tiny_classifier((28, 28, 1), "gray28")


@pytest.fixture(scope="module")
def rgb_model():
    return _tiny_classifier((32, 32, 3), "rgb32")


@pytest.fixture(scope="module")
def mnist_model():
    from cnnviz.models.zoo import build_model

    return build_model("mnist_small")


# ---------------------------------------------------------------- reading files

def test_png_16bit_gray_scaled_to_8bit(tmp_path):
    import skimage.io

    a = np.zeros((20, 30), np.uint16)
    a[0, 0] = 65535
    a[0, 1] = 32896          # 128 * 257
    a[0, 2] = 257            # 1 * 257
    a[0, 3] = 1000           # 1000 / 257 = 3.9 -> 3 or 4, never stretched to 255
    path = tmp_path / "g16.png"
    skimage.io.imsave(path, a, check_contrast=False)
    assert Image.open(path).mode.startswith("I")     # really a 16-bit file
    image = read_image(path)
    _check_gray(image, (20, 30))
    assert image[0, 0] == 255
    assert image[0, 1] == 128
    assert image[0, 2] == 1
    assert image[0, 3] in (3, 4)
    assert image[5:, :].max() == 0


def test_png_16bit_low_range_is_not_stretched(tmp_path):
    import skimage.io

    a = np.full((10, 10), 1000, np.uint16)
    a[0, 0] = 0
    path = tmp_path / "dark16.png"
    skimage.io.imsave(path, a, check_contrast=False)
    image = read_image(path)
    _check_gray(image, (10, 10))
    assert image.max() <= 4          # 1000/65535 of full scale is dark, not white


def test_rgba_png_composited_over_white(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 255                 # red everywhere
    rgba[:4, :, 3] = 255               # opaque top rows
    rgba[4:7, :, 3] = 128              # half transparent
    # rows 7.. fully transparent
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    image = read_image(path)
    _check_rgb(image, (10, 12))
    np.testing.assert_array_equal(image[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(image[9, 11], [255, 255, 255])
    half = image[5, 5].astype(int)
    assert half[0] == 255 and abs(half[1] - 127) <= 1 and abs(half[2] - 127) <= 1


def test_gray_alpha_png(tmp_path):
    la = np.zeros((10, 12, 2), np.uint8)
    la[..., 0] = 40
    la[:5, :, 1] = 255                 # opaque top: value 40
    la[5:8, :, 1] = 0                  # transparent: white
    la[8:, :, 1] = 51                  # 20 % opaque: 40*0.2 + 255*0.8 = 212
    path = tmp_path / "la.png"
    Image.fromarray(la, "LA").save(path)
    assert Image.open(path).mode == "LA"
    image = read_image(path)
    _check_gray(image, (10, 12))
    assert image[0, 0] == 40
    assert image[6, 0] == 255
    assert abs(int(image[9, 0]) - 212) <= 1


def test_palette_png(tmp_path):
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[:4] = (0, 0, 255)
    rgb[4:] = (0, 255, 0)
    path = tmp_path / "pal.png"
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=4).save(path)
    assert Image.open(path).mode == "P"
    image = read_image(path)
    _check_rgb(image, (8, 10))
    np.testing.assert_array_equal(image[0, 0], [0, 0, 255])
    np.testing.assert_array_equal(image[7, 9], [0, 255, 0])


def test_gray_jpeg(tmp_path):
    a = np.full((16, 24), 200, np.uint8)
    a[:, :12] = 30
    path = tmp_path / "gray.jpg"
    Image.fromarray(a, "L").save(path, quality=95)
    image = read_image(path)
    _check_gray(image, (16, 24))
    assert abs(int(image[8, 2]) - 30) <= 4
    assert abs(int(image[8, 21]) - 200) <= 4


def test_rgb_jpeg(tmp_path):
    a = np.zeros((16, 24, 3), np.uint8)
    a[...] = (200, 30, 60)
    path = tmp_path / "rgb.jpg"
    Image.fromarray(a).save(path, quality=95)
    image = read_image(path)
    _check_rgb(image, (16, 24))
    assert np.abs(image[8, 12].astype(int) - [200, 30, 60]).max() <= 6


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(path, quality=95)
    expected = np.asarray(Image.open(path).convert("RGB"))     # Pillow's own conversion: red
    assert expected[0, 0, 0] > 200 and expected[0, 0, 1:].max() < 60
    image = read_image(path)
    _check_rgb(image, (6, 8))
    assert np.abs(image.astype(int) - expected).max() <= 2


def test_bmp(tmp_path):
    a = np.zeros((9, 13, 3), np.uint8)
    a[:, :, 1] = np.arange(13, dtype=np.uint8)[None, :] * 10
    path = tmp_path / "img.bmp"
    Image.fromarray(a).save(path)
    image = read_image(path)
    _check_rgb(image, (9, 13))
    np.testing.assert_array_equal(image, a)        # BMP is lossless


def test_animated_gif_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    first = Image.new("RGB", (20, 10), (255, 0, 0))
    second = Image.new("RGB", (20, 10), (0, 0, 255))
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    image = read_image(path)
    _check_rgb(image, (10, 20))
    assert (image[..., 0] == 255).all() and (image[..., 2] == 0).all()


def test_single_frame_gif(tmp_path):
    path = tmp_path / "one.gif"
    Image.new("RGB", (7, 5), (0, 255, 0)).save(path)
    image = read_image(path)
    _check_rgb(image, (5, 7))
    assert (image[..., 1] == 255).all() and image[..., 0].max() == 0


def test_tiff_8bit_and_16bit(tmp_path):
    import tifffile

    a8 = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    tifffile.imwrite(tmp_path / "a8.tif", a8)
    image = read_image(tmp_path / "a8.tif")
    _check_gray(image, (12, 16))
    np.testing.assert_array_equal(image, a8)

    a16 = np.zeros((12, 16, 3), np.uint16)
    a16[..., 0] = 65535
    a16[..., 1] = 32896
    tifffile.imwrite(tmp_path / "a16.tif", a16, photometric="rgb")
    image = read_image(tmp_path / "a16.tif")
    _check_rgb(image, (12, 16))
    np.testing.assert_array_equal(image[0, 0], [255, 128, 0])


def test_float_tiff(tmp_path):
    import tifffile

    a = np.zeros((10, 10), np.float32)
    a[0, 0] = 1.0
    a[0, 1] = 0.5
    tifffile.imwrite(tmp_path / "f.tif", a)
    image = read_image(tmp_path / "f.tif")
    _check_gray(image, (10, 10))
    assert image[0, 0] == 255
    assert abs(int(image[0, 1]) - 128) <= 1
    assert image[5, 5] == 0


def test_multipage_narrow_gray_tiff_first_page(tmp_path):
    import tifffile

    pages = np.stack([np.zeros((10, 3), np.uint8), np.full((10, 3), 255, np.uint8)])
    tifffile.imwrite(tmp_path / "pages.tif", pages, photometric="minisblack")  # two gray pages
    image = read_image(tmp_path / "pages.tif")
    assert image.shape == (10, 3)
    assert image.max() == 0


def test_one_pixel_images(tmp_path):
    Image.new("L", (1, 1), 7).save(tmp_path / "one.png")
    image = read_image(tmp_path / "one.png")
    _check_gray(image, (1, 1))
    assert image[0, 0] == 7
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "one_rgb.png")
    image = read_image(tmp_path / "one_rgb.png")
    _check_rgb(image, (1, 1))
    np.testing.assert_array_equal(image[0, 0], [1, 2, 3])


def test_one_bit_png(tmp_path):
    bits = Image.new("1", (8, 4), 0)
    bits.putpixel((0, 0), 1)
    bits.save(tmp_path / "bits.png")
    image = read_image(tmp_path / "bits.png")
    _check_gray(image, (4, 8))
    assert image[0, 0] == 255 and image[3, 7] == 0


def test_skimage_samples():
    cat = read_image("skimage:chelsea")
    _check_rgb(cat, (300, 451))
    camera = read_image("skimage:camera")
    _check_gray(camera, (512, 512))
    assert camera.std() > 20                  # a real photo, not a blank


# ---------------------------------------------------------------- normalize_image directly

def test_normalize_image_arrays():
    frames = np.zeros((3, 6, 8, 3), np.uint8)
    frames[0] = 9
    out = normalize_image(frames)
    assert out.shape == (6, 8, 3) and (out == 9).all()
    assert normalize_image(np.zeros((5, 5, 1), np.uint8)).shape == (5, 5)
    assert normalize_image(np.ones((4, 4), bool)).max() == 255
    signed = normalize_image(np.array([[-100, 0], [50, 100]], np.int16))
    assert signed.dtype == np.uint8 and signed[0, 0] == 0 and signed[1, 1] == 255
    with pytest.raises(CnnvizError, match="not a 2-D image"):
        normalize_image(np.zeros((0, 4), np.uint8), "empty.png")
    with pytest.raises(CnnvizError, match="not a 2-D image"):
        normalize_image(np.zeros(10, np.uint8))


# ---------------------------------------------------------------- errors

def test_missing_file(tmp_path):
    path = tmp_path / "nothere.png"
    with pytest.raises(CnnvizError, match="nothere.png") as info:
        read_image(path)
    assert "does not exist" in str(info.value)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(CnnvizError) as info:
        read_image(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not a picture\n")
    with pytest.raises(CnnvizError, match="notes.png") as info:
        read_image(path)
    assert "cannot read" in str(info.value)


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    full = tmp_path / "full.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full, quality=90)
    data = full.read_bytes()
    path = tmp_path / "broken.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CnnvizError, match="broken.jpg"):
        read_image(path)


def test_garbage_after_jpeg_header(tmp_path):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    with pytest.raises(CnnvizError, match="garbage.jpg"):
        read_image(path)


def test_unknown_sample():
    with pytest.raises(CnnvizError, match="nosuch") as info:
        read_image("skimage:nosuch")
    assert "skimage:chelsea" in str(info.value)       # tells which names exist


def test_load_image_error_names_file(tmp_path, gray_model):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(CnnvizError, match="empty.jpg"):
        load_image(path, gray_model)


# ---------------------------------------------------------------- conform

def test_conform_resize_and_channels():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0] = 255
    out = conform(rgb, (20, 30), 1)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 1)
    assert abs(int(out[10, 10, 0]) - round(255 * 0.2125)) <= 1     # luminance of pure red
    gray = np.full((10, 10), 77, np.uint8)
    out = conform(gray, (10, 10), 3)
    assert out.shape == (10, 10, 3) and (out == 77).all()
    out = conform(gray, (None, 5), 1)
    assert out.shape == (10, 5, 1) and (out == 77).all()
    with pytest.raises(CnnvizError, match="4 input channels"):
        conform(gray, (10, 10), 4)


# ---------------------------------------------------------------- prepare / load_image

def test_colour_photo_for_gray_model(gray_model):
    photo = read_image("skimage:chelsea")
    loaded = prepare(photo, gray_model, "skimage:chelsea")
    assert loaded.x.shape == (28, 28, 1)
    assert loaded.x.dtype == np.float32
    assert 0.0 <= loaded.x.min() and loaded.x.max() <= 1.0
    assert loaded.x.max() > loaded.x.min()
    assert loaded.pixels.shape == (28, 28, 1) and loaded.pixels.dtype == np.uint8
    np.testing.assert_allclose(loaded.x, loaded.pixels / 255.0, atol=1e-6)
    np.testing.assert_array_equal(loaded.display, photo)
    text = " ".join(loaded.notes)
    assert "colour" in text and "grayscale" in text
    assert "resized" in text and "451x300" in text and "28x28" in text
    assert "invert" not in text              # a plain model has no MNIST info


def test_gray_image_for_rgb_model(rgb_model):
    gray = np.tile(np.arange(64, dtype=np.uint8)[None, :] * 4, (48, 1))
    loaded = prepare(gray, rgb_model)
    assert loaded.x.shape == (32, 32, 3) and loaded.x.dtype == np.float32
    assert loaded.pixels.shape == (32, 32, 3)
    np.testing.assert_array_equal(loaded.pixels[..., 0], loaded.pixels[..., 1])
    np.testing.assert_array_equal(loaded.pixels[..., 0], loaded.pixels[..., 2])
    assert loaded.display.shape == (48, 64, 3)
    text = " ".join(loaded.notes)
    assert "grayscale" in text and "RGB" in text
    assert "resized" in text and "64x48" in text and "32x32" in text


def test_matching_image_needs_no_conversion_notes(rgb_model):
    """Only the preprocessing assumed for a model cnnviz does not know is noted."""
    rgb = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    loaded = prepare(rgb, rgb_model)
    assert len(loaded.notes) == 1 and "assumed input pixels / 255, in [0, 1] (scale01)" in loaded.notes[0]
    np.testing.assert_array_equal(loaded.pixels, rgb)
    np.testing.assert_allclose(loaded.x, rgb / 255.0, atol=1e-6)


def test_mnist_model_inverts_dark_on_light(mnist_model, tmp_path):
    digit = np.full((56, 56), 255, np.uint8)
    digit[18:38, 18:38] = 0                       # black square on white paper
    path = tmp_path / "digit.png"
    Image.fromarray(digit).save(path)
    loaded = load_image(path, mnist_model)
    assert loaded.source == str(path)
    assert loaded.x.shape == (28, 28, 1) and loaded.x.dtype == np.float32
    border = np.concatenate([loaded.x[0, :, 0], loaded.x[-1, :, 0], loaded.x[:, 0, 0], loaded.x[:, -1, 0]])
    assert border.max() < 0.05                    # the paper became dark
    assert loaded.x[14, 14, 0] > 0.95             # the ink became light
    text = " ".join(loaded.notes)
    assert "invert" in text
    assert "resized" in text and "28x28" in text


def test_mnist_model_keeps_light_on_dark(mnist_model):
    digit = np.zeros((28, 28), np.uint8)
    digit[8:20, 8:20] = 255
    loaded = prepare(digit, mnist_model)
    assert loaded.notes == ["mnist_small has random weights (untrained): what it shows says nothing about a "
                            "trained network"]                 # nothing converted; the untrained model noted
    assert loaded.x[0, 0, 0] == 0.0 and loaded.x[14, 14, 0] == 1.0


def test_load_image_from_file(tmp_path, rgb_model):
    a = np.zeros((32, 32, 3), np.uint8)
    a[..., 2] = 255
    Image.fromarray(a).save(tmp_path / "blue.png")
    loaded = load_image(tmp_path / "blue.png", rgb_model)
    np.testing.assert_allclose(loaded.x[..., 2], 1.0)
    np.testing.assert_allclose(loaded.x[..., :2], 0.0)


# ---------------------------------------------------------------- preprocess

def test_preprocess_vgg16_matches_keras_and_keeps_input():
    from keras.applications import vgg16

    rng = np.random.default_rng(0)
    for pixels in (rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
                   rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)):
        before = pixels.copy()
        out = preprocess(pixels, "vgg16")
        expected = vgg16.preprocess_input(pixels.astype(np.float32).copy())
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-4)
        np.testing.assert_array_equal(pixels, before)          # input untouched
        # RGB -> BGR with the ImageNet means subtracted
        np.testing.assert_allclose(out[0, 0], pixels[0, 0, ::-1].astype(np.float32) - [103.939, 116.779, 123.68],
                                   atol=1e-3)


def test_preprocess_scale01_and_raw():
    pixels = np.array([[[0, 51, 255]]], np.uint8)
    out = preprocess(pixels, "scale01")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[0.0, 0.2, 1.0]]], atol=1e-7)
    raw = preprocess(pixels, "raw")
    assert raw.dtype == np.float32
    np.testing.assert_array_equal(raw, pixels.astype(np.float32))


def test_preprocess_unknown():
    with pytest.raises(CnnvizError, match="unknown preprocessing 'bgr'.*caffe, tf, torch"):
        preprocess(np.zeros((2, 2, 3), np.uint8), "bgr")


def test_samples_list_is_loadable():
    # every advertised sample must exist in scikit-image (they ship offline)
    import skimage.data

    for name in images.SAMPLES:
        assert callable(getattr(skimage.data, name))
