"""Files and folders that are not what their names claim, shared by the
command-line and desktop-app bad-input tests so both meet the same corpus."""
import json
import zipfile
from pathlib import Path

import numpy as np


def make_bad_files(folder: Path) -> Path:
    """Write the corpus into ``folder``: unreadable models, a folder named like
    a model, a broken PNG, TIFFs with NaN pixels, a model with an unknown
    custom layer class (and the good model it was made from)."""
    import imageio.v3 as iio
    import keras

    (folder / "garbage.keras").write_bytes(b"not a zip at all")
    (folder / "text.h5").write_text("hello")
    (folder / "dir.keras").mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "photos").mkdir()
    pixels = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    pixels[:3, :3] = np.nan
    iio.imwrite(folder / "nan.tif", pixels)
    colour = np.random.default_rng(1).random((20, 20, 3)).astype(np.float32)
    colour[0, :9] = np.nan                           # 9 pixels, 27 values
    iio.imwrite(folder / "nan_rgb.tif", colour)
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(folder / "good.keras")
    with zipfile.ZipFile(folder / "good.keras") as z:
        members = {name: z.read(name) for name in z.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer.update(class_name="FancyDense", module="my_lab.layers", registered_name="FancyDense")
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(folder / "custom.keras", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return folder


def write_png_bomb(path: Path, width: int = 12000, height: int = 12000) -> Path:
    """A grayscale PNG of ``width`` x ``height`` black pixels, a few hundred KB
    on disk (a decompression bomb): written row by row through zlib, so making
    it never holds the image in memory."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer, row, parts = zlib.compressobj(9), b"\0" * (width + 1), []     # filter byte 0, then the row
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)          # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))
    return path
