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
