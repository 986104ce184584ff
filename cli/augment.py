"""``--augment``: random rotation, shift and zoom of each training batch, the same in both engines.

The draws are a pure function of ``(seed, epoch, step)`` (a NumPy generator seeded with them), so
the same seed gives the same augmented batches, a resumed run continues with the draws it would
have made, and ``compare`` feeds both engines the same angles, shifts and zooms. The scratch
engine applies them with its own layers (``scratch.RandomRotation`` ...); the Keras engine with
Keras's own layers' ``transform_images`` (the resampling is Keras's), given the parameters drawn
here: Keras's layers would draw from their own generator, and the two engines could then never
train on the same images.

Defaults suit digits: a small rotation (``0.03`` of a turn, about +-11 degrees), a shift of up to
10% of the height and width, a zoom of +-10%, no flips (a flipped 2 is no digit). The fill mode is
``"nearest"`` (the border pixel, i.e. the background, whatever the preprocessing).
"""

import numpy as np

import scratch

DEFAULT_FACTORS = {"rotation": 0.03, "shift": 0.1, "zoom": 0.1}
FILL_MODE = "nearest"


class Augmenter:
    def __init__(self, rotation, shift, zoom, seed, dtype="float32"):
        self.factors = {"rotation": rotation, "shift": shift, "zoom": zoom}
        self.seed = seed
        self.layers = []
        if rotation:
            self.layers.append(scratch.RandomRotation(rotation, fill_mode=FILL_MODE, dtype=dtype))
        if shift:
            self.layers.append(scratch.RandomTranslation(shift, shift, fill_mode=FILL_MODE, dtype=dtype))
        if zoom:
            self.layers.append(scratch.RandomZoom(zoom, fill_mode=FILL_MODE, dtype=dtype))
        self._keras_layers = None

    def record(self):
        return {**self.factors, "fill_mode": FILL_MODE, "interpolation": "bilinear",
                "layers": [scratch.layers.serialize(layer) for layer in self.layers],
                "draws": "numpy default_rng([seed, 1, epoch, step]) per batch"}

    def draw(self, x, epoch, step, stream=1):
        """The parameters of batch ``step`` of epoch ``epoch``, one dict per layer (``stream`` 2: the picture's)."""
        rng = np.random.default_rng([self.seed, stream, epoch, step])
        params = []
        for layer in self.layers:
            layer.rng = rng
            params.append(layer.get_random_transformation(x))
        return params

    def scratch(self, x, params):
        for layer, p in zip(self.layers, params):
            x = layer.transform_images(x, p)
        return x

    def keras(self, x, params):
        import keras

        from keras_ref.augmentation import keras_transformation
        from keras_ref.convert import keras_layer

        if self._keras_layers is None:
            self._keras_layers = [keras_layer(layer) for layer in self.layers]
        y = keras.ops.convert_to_tensor(x)
        for klayer, p in zip(self._keras_layers, params):
            y = klayer.transform_images(y, keras_transformation(klayer, p, x.shape))
        return keras.ops.convert_to_numpy(y)

    def apply(self, engine, x, params):
        """``x`` augmented with ``params`` (``draw``'s) by ``engine``'s own layers (its ``name``: scratch or keras)."""
        return self.keras(x, params) if engine.name == "keras" else self.scratch(x, params)

    def batches(self, epoch, step, x, engines):
        """The augmented batch for each engine (the same draws for all)."""
        params = self.draw(x, epoch, step)
        return [self.apply(engine, x, params) for engine in engines]

    def epoch(self, engine, x, order, batch_size, epoch):
        """Every batch of epoch ``epoch`` augmented as the per-batch path augments it, in one array laid out
        like ``x`` (image ``order[i]`` at position ``order[i]``), for an engine that trains a whole epoch at
        once on ``x[order]`` (Keras's ``fit``): batch ``s`` is ``batches(epoch, s, x[order[s*b:(s+1)*b]])``."""
        out = np.empty_like(x)
        for s in range(-(-len(order) // batch_size)):
            idx = order[s * batch_size:(s + 1) * batch_size]
            out[idx] = self.apply(engine, x[idx], self.draw(x[idx], epoch, s))
        return out

    def examples(self, x, versions=5):
        """``versions`` augmented copies of each image of ``x`` (scratch engine, draws of their own, not the
        training batches'): ``(versions, N, ...)``."""
        return np.stack([self.scratch(x, self.draw(x, 0, v, stream=2)) for v in range(versions)])
