"""Every image decode has a budget (issue 22): the pixel count is read from
the header before decoding; a JPEG over the limit is decoded at a reduced
scale, any other format over it is refused in one line naming the limit and
CNNVIZ_MAX_PIXELS; in a folder such a file is skipped and named; Pillow's
DecompressionBombWarning never reaches the user."""
from __future__ import annotations

import resource
import warnings

import pytest
from bad_files import write_png_bomb

from cnnviz.cli.main import main
from cnnviz.common.errors import CnnvizError
from cnnviz.data.images import MAX_PIXELS, read_image
from cnnviz.data.stream import decode_files


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """12000x12000 grayscale: 144 million pixels, a few hundred KB on disk."""
    path = write_png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")
    assert path.stat().st_size < 1_000_000
    return path


def write(path, width, height, mode="L", **kw):
    from PIL import Image

    Image.new(mode, (width, height), 128).save(path, **kw)
    return path


# (format written by Pillow, size, pixel limit set): over the limit, refused unless the format decodes reduced
CASES = {
    "PNG gray": ("png", (400, 300), "L", 100_000, None),
    "PNG RGB": ("png", (400, 300), "RGB", 100_000, None),
    "BMP": ("bmp", (400, 300), "RGB", 100_000, None),
    "GIF": ("gif", (400, 300), "L", 100_000, None),
    "TIFF": ("tif", (400, 300), "RGB", 100_000, None),
    "JPEG, reduced by 2": ("jpg", (400, 300), "RGB", 100_000, (150, 200)),
    "JPEG, reduced by 8": ("jpg", (800, 800), "L", 10_000, (100, 100)),
    "JPEG, beyond 1/8": ("jpg", (800, 800), "RGB", 1_000, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_over_the_limit_is_reduced_or_refused_from_the_header(tmp_path, monkeypatch, case):
    suffix, (w, h), mode, limit, reduced = CASES[case]
    path = write(tmp_path / f"big.{suffix}", w, h, mode)
    monkeypatch.setenv("CNNVIZ_MAX_PIXELS", str(limit))
    if reduced is None:
        with pytest.raises(CnnvizError, match=f"{w}x{h}.*over cnnviz's limit.*CNNVIZ_MAX_PIXELS={w * h}"):
            read_image(path)
    else:
        assert read_image(path).shape[:2] == reduced
    monkeypatch.setenv("CNNVIZ_MAX_PIXELS", str(w * h))          # the fix the message names
    assert read_image(path).shape[:2] == (h, w)


@pytest.mark.parametrize("value", ["0", "-5", "lots", "nan"])
def test_a_bad_limit_is_one_line(tmp_path, monkeypatch, value):
    monkeypatch.setenv("CNNVIZ_MAX_PIXELS", value)
    with pytest.raises(CnnvizError, match="CNNVIZ_MAX_PIXELS"):
        read_image(write(tmp_path / "a.png", 4, 4))


def test_the_bomb_is_refused_before_decoding_without_pillows_warning(bomb):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # a DecompressionBombWarning would fail here
        with pytest.raises(CnnvizError, match="12000x12000 \\(144 million pixels\\), over cnnviz's limit of 100"):
            read_image(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000      # KB: nothing decoded
    assert MAX_PIXELS == 100_000_000


def test_a_bomb_beyond_pillows_own_limit_gets_our_message(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)       # Pillow raises its own error past twice this
    monkeypatch.setenv("CNNVIZ_MAX_PIXELS", "500")
    with pytest.raises(CnnvizError, match="over cnnviz's limit of 0.0005 million"):
        read_image(write(tmp_path / "a.png", 100, 100))


def test_in_a_folder_the_bomb_is_skipped_and_named(bomb, tmp_path):
    good = write(tmp_path / "ok.png", 20, 20)
    ok, pixels, skipped = decode_files([str(bomb), str(good)], (16, 16, 1))
    assert ok.tolist() == [1] and pixels.shape == (1, 16, 16, 1)
    assert skipped[0][0] == str(bomb) and "CNNVIZ_MAX_PIXELS" in skipped[0][1]


def test_predict_refuses_the_bomb_in_one_line(capsys, bomb):
    code = main(["predict", str(bomb), "-m", "mnist_small"])
    err = capsys.readouterr().err
    assert code == 2 and "over cnnviz's limit" in err and "CNNVIZ_MAX_PIXELS" in err
    assert len(err.strip().splitlines()) == 1 and "DecompressionBomb" not in err


def test_top_patches_skips_the_bomb_and_names_it(capsys, bomb, tmp_path):
    import shutil

    folder = tmp_path / "digits"
    folder.mkdir()
    shutil.copy(bomb, folder / "bomb.png")
    for i in range(3):
        write(folder / f"{i}.png", 28, 28)
    code = main(["top-patches", "mnist_small", "--layer", "conv1", "--dataset", str(folder), "-k", "2",
                 "-o", str(tmp_path / "t.png")])
    err = capsys.readouterr().err
    assert code == 0 and "bomb.png" in err and (tmp_path / "t.png").is_file()
