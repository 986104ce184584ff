"""Reshaping layers (Keras's ``keras/src/layers/reshaping``): ZeroPadding, Cropping and UpSampling
in 1, 2 and 3 spatial dimensions; Flatten, Reshape."""

from ... import layers
from ..config import from_config, to_config

RANKS = (1, 2, 3)


def _margins(cfg, key, rank):
    """Keras writes a margin as ``(before, after)`` in 1-D and one such pair per axis otherwise
    (lists in a file): read as the scratch layer's argument, refusing another form."""
    value = cfg[key]
    try:
        if rank == 1:
            return tuple(int(v) for v in value)
        return tuple(tuple(int(v) for v in pair) for pair in value)
    except (TypeError, ValueError):
        cfg.refuse(key, value, "(before, after) pairs of ints")


def _margins_config(margins):
    return list(margins[0]) if len(margins) == 1 else [list(p) for p in margins]


@to_config(*(f"ZeroPadding{r}D" for r in RANKS))
def zero_padding_to_config(layer):
    return {"padding": _margins_config(layer.padding)}


@from_config(*(f"ZeroPadding{r}D" for r in RANKS))
def zero_padding_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    cls = getattr(layers, cfg.class_name)
    return cls(_margins(cfg, "padding", cls.rank), **common)


@to_config(*(f"Cropping{r}D" for r in RANKS))
def cropping_to_config(layer):
    return {"cropping": _margins_config(layer.cropping)}


@from_config(*(f"Cropping{r}D" for r in RANKS))
def cropping_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    cls = getattr(layers, cfg.class_name)
    return cls(_margins(cfg, "cropping", cls.rank), **common)


@to_config("UpSampling1D")
def upsampling1d_to_config(layer):
    return {"size": layer.size[0]}


@to_config("UpSampling3D")
def upsampling3d_to_config(layer):
    return {"size": list(layer.size)}


@to_config("UpSampling2D")
def upsampling2d_to_config(layer):
    return {"size": list(layer.size), "interpolation": layer.interpolation}


@from_config("UpSampling1D", "UpSampling3D")
def upsampling_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    cls = getattr(layers, cfg.class_name)
    return cls(cfg.ints("size", cls.rank), **common)


@from_config("UpSampling2D")
def upsampling2d_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    interpolation = cfg.get("interpolation", "nearest")
    if interpolation not in layers.UpSampling2D.INTERPOLATIONS:
        cfg.refuse("interpolation", interpolation, f"one of {layers.UpSampling2D.INTERPOLATIONS}")
    return layers.UpSampling2D(cfg.ints("size", 2), interpolation=interpolation, **common)


@to_config("Flatten")
def flatten_to_config(layer):
    return {"data_format": "channels_last"}


@from_config("Flatten")
def flatten_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last", None), "channels_last")
    return layers.Flatten(**common)


@to_config("Reshape")
def reshape_to_config(layer):
    return {"target_shape": list(layer.target_shape)}


@from_config("Reshape")
def reshape_from_config(cfg, common):
    return layers.Reshape(tuple(int(d) for d in cfg["target_shape"]), **common)
