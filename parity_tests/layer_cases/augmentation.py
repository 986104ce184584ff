"""Parity cases of the augmentation layers: ``(id, class name, kwargs, input shape[, options])``.

In inference every augmentation layer is the identity in both engines (RandomCrop too: Keras
returns its input uncropped at inference, so its case uses an input of the crop's size, where
the declared output shape and the identity agree). In training the engines draw from different
generators: ``parity_tests/test_augmentation_parity.py`` feeds both the same drawn parameters.
"""

CASES = [
    ("random-flip-inference", "RandomFlip", dict(mode="horizontal", seed=1), (2, 6, 6, 2)),
    ("random-rotation-inference", "RandomRotation", dict(factor=0.1, seed=1), (2, 6, 6, 2)),
    ("random-translation-inference", "RandomTranslation", dict(height_factor=0.1, width_factor=0.2, seed=1),
     (2, 6, 6, 2)),
    ("random-zoom-inference", "RandomZoom", dict(height_factor=0.2, seed=1), (2, 6, 6, 2)),
    ("random-contrast-inference", "RandomContrast", dict(factor=0.2, seed=1), (2, 6, 6, 2)),
    ("random-brightness-inference", "RandomBrightness", dict(factor=0.2, seed=1), (2, 6, 6, 2)),
    ("random-crop-inference", "RandomCrop", dict(height=6, width=6, seed=1), (2, 6, 6, 2)),
    # training, where the draw cannot matter: a crop of the whole image (Keras: its centred window)
    ("random-crop-whole-training", "RandomCrop", dict(height=6, width=6, seed=1), (2, 6, 6, 2), {"training": True}),
]
