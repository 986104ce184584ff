"""Parity cases of the layers ``keras.applications`` defines itself."""

CASES = [
    ("layer-scale-4d", "LayerScale", dict(init_values=0.5, projection_dim=3), (2, 4, 4, 3)),
    ("layer-scale-2d", "LayerScale", dict(init_values=1e-6, projection_dim=5), (3, 5)),
    ("custom-scale", "CustomScaleLayer", dict(scale=0.17), [(2, 4, 4, 3), (2, 4, 4, 3)]),
]
