"""Library warnings become one note line each (the app and the CLI share
this), once per text; deprecation notices, for programmers, none."""
import warnings

from cnnviz.common.runtime import warnings_as_notes


def test_a_decompression_bomb_warning_is_one_note_once():
    from PIL import Image

    notes = []
    with warnings.catch_warnings():
        warnings_as_notes(notes.append)
        for _ in range(2):
            warnings.warn("Image size (120000000 pixels) exceeds limit of 89478485 pixels, could be "
                          "decompression bomb DOS attack.", Image.DecompressionBombWarning)
        warnings.warn("old API", DeprecationWarning)
    assert notes == ["Image size (120000000 pixels) exceeds limit of 89478485 pixels, could be decompression "
                     "bomb DOS attack."]
