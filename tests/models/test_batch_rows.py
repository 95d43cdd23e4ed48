"""Batch sizes from the model's layer outputs (engine.batch_rows)."""
import keras

from cnnviz.models.engine import BATCH_MEMORY, activation_bytes, batch_rows


def test_batch_rows_follow_the_layer_outputs():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)          # 8 * 8 * 4 = 256 values
    x = keras.layers.Flatten()(x)                                    # 256
    model = keras.Model(inputs, keras.layers.Dense(2)(x))            # 2
    assert activation_bytes(model) == 4 * (8 * 8 * 3 + 256 + 256 + 2)    # the input is held too
    assert batch_rows(model) == 256                                  # the default, well within the budget
    assert batch_rows(model, 10**9) == BATCH_MEMORY // 2824
    assert batch_rows(model, 10**9, backward=True) == BATCH_MEMORY // 5648


def test_a_large_model_gets_small_batches():
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.Conv2D(64, 3, padding="same")(inputs)          # VGG16's first layer: 12.8 MB per image
    model = keras.Model(inputs, keras.layers.Conv2D(64, 3, padding="same")(x))
    assert batch_rows(model) == BATCH_MEMORY // (4 * 224 * 224 * (3 + 64 + 64)) == 20
    assert batch_rows(model, 4) == 4                                   # a smaller wish is kept
