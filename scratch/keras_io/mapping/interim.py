"""INTERIM: the config mapping of the families still being moved out of ``keras_ref/mapping/``
(convolutional, normalization, reshaping, regularization), so that files read without
TensorFlow can hold them. Each function registers only where the family module has not
registered the class yet (``_register``): once those modules carry their own ``@from_config``
and ``@to_config``, these are unused, and this module is to be deleted.
"""

from ... import layers
from ..config import FROM_CONFIG, TO_CONFIG, weight_options_config


def _register(table, *names):
    def register(fn):
        for name in names:
            table.setdefault(name, fn)
        return fn
    return register


def _init(cfg, key, default):
    """As ``keras_ref``'s live mapping did for the convolutions: ``glorot_uniform`` and ``zeros`` kept,
    any other initializer recorded as the default (weights are copied)."""
    name = cfg.initializer(key, default)
    return name if name in ("glorot_uniform", "zeros") else default


def _weight_options(cfg):
    return dict(activation=cfg.activation(), use_bias=bool(cfg.get("use_bias", True)),
                kernel_initializer=_init(cfg, "kernel_initializer", "glorot_uniform"),
                bias_initializer=_init(cfg, "bias_initializer", "zeros"))


def _geometry(cfg):
    return dict(kernel_size=cfg.ints("kernel_size", 2), strides=cfg.ints("strides", 2, (1, 1)),
                padding=cfg.expect("padding", ("valid", "same")), dilation_rate=cfg.ints("dilation_rate", 2, (1, 1)))


def _geometry_config(layer):
    return {"kernel_size": list(layer.kernel_size), "strides": list(layer.strides), "padding": layer.padding,
            "dilation_rate": list(layer.dilation_rate)}


@_register(FROM_CONFIG, "Conv2D")
def conv2d_from_config(cfg, common):
    return layers.Conv2D(int(cfg["filters"]), groups=int(cfg.get("groups", 1)), **_geometry(cfg),
                         **_weight_options(cfg), **common)


@_register(TO_CONFIG, "Conv2D")
def conv2d_to_config(layer):
    return {"filters": layer.filters, "groups": layer.groups, **_geometry_config(layer), **weight_options_config(layer)}


def _depthwise_options(cfg):
    return dict(depth_multiplier=int(cfg.get("depth_multiplier", 1)), activation=cfg.activation(),
                use_bias=bool(cfg.get("use_bias", True)),
                depthwise_initializer=_init(cfg, "depthwise_initializer", "glorot_uniform"),
                bias_initializer=_init(cfg, "bias_initializer", "zeros"))


@_register(FROM_CONFIG, "DepthwiseConv2D")
def depthwise_from_config(cfg, common):
    return layers.DepthwiseConv2D(**_geometry(cfg), **_depthwise_options(cfg), **common)


@_register(TO_CONFIG, "DepthwiseConv2D")
def depthwise_to_config(layer):
    options = weight_options_config(layer, "depthwise_initializer")
    return {"depth_multiplier": layer.depth_multiplier, **_geometry_config(layer), **options}


@_register(FROM_CONFIG, "SeparableConv2D")
def separable_from_config(cfg, common):
    return layers.SeparableConv2D(int(cfg["filters"]), **_geometry(cfg), **_depthwise_options(cfg),
                                  pointwise_initializer=_init(cfg, "pointwise_initializer", "glorot_uniform"),
                                  **common)


@_register(TO_CONFIG, "SeparableConv2D")
def separable_to_config(layer):
    options = weight_options_config(layer, "depthwise_initializer")
    return {"filters": layer.filters, "depth_multiplier": layer.depth_multiplier, **_geometry_config(layer),
            **options, "pointwise_initializer": layer.pointwise_initializer}


def _axis(cfg):
    axis = cfg.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            cfg.refuse("axis", axis, "the channel axis (last) alone")
        axis = axis[0]
    return int(axis)


def _check_regularization(cfg):
    for key in ("beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"):
        if cfg.get(key) is not None:
            cfg.refuse(key, cfg.get(key), "None")


@_register(FROM_CONFIG, "BatchNormalization")
def batch_normalization_from_config(cfg, common):
    if cfg.get("renorm"):
        cfg.refuse("renorm", True, "False (no batch renormalization)")
    if cfg.get("synchronized"):
        cfg.refuse("synchronized", True, "False")
    _check_regularization(cfg)
    return layers.BatchNormalization(
        axis=_axis(cfg), momentum=float(cfg.get("momentum", 0.99)), epsilon=float(cfg.get("epsilon", 1e-3)),
        center=bool(cfg.get("center", True)), scale=bool(cfg.get("scale", True)),
        beta_initializer=cfg.initializer("beta_initializer", "zeros"),
        gamma_initializer=cfg.initializer("gamma_initializer", "ones"),
        moving_mean_initializer=cfg.initializer("moving_mean_initializer", "zeros"),
        moving_variance_initializer=cfg.initializer("moving_variance_initializer", "ones"), **common)


@_register(TO_CONFIG, "BatchNormalization")
def batch_normalization_to_config(layer):
    return {"axis": layer.axis, "momentum": layer.momentum, "epsilon": layer.epsilon, "center": layer.center,
            "scale": layer.scale, "beta_initializer": layer.beta_initializer,
            "gamma_initializer": layer.gamma_initializer, "moving_mean_initializer": layer.moving_mean_initializer,
            "moving_variance_initializer": layer.moving_variance_initializer}


@_register(FROM_CONFIG, "LayerNormalization")
def layer_normalization_from_config(cfg, common):
    if cfg.get("rms_scaling"):
        cfg.refuse("rms_scaling", True, "False (use the plain layer normalization)")
    _check_regularization(cfg)
    return layers.LayerNormalization(
        axis=_axis(cfg), epsilon=float(cfg.get("epsilon", 1e-3)), center=bool(cfg.get("center", True)),
        scale=bool(cfg.get("scale", True)), beta_initializer=cfg.initializer("beta_initializer", "zeros"),
        gamma_initializer=cfg.initializer("gamma_initializer", "ones"), **common)


@_register(TO_CONFIG, "LayerNormalization")
def layer_normalization_to_config(layer):
    return {"axis": layer.axis, "epsilon": layer.epsilon, "center": layer.center, "scale": layer.scale,
            "beta_initializer": layer.beta_initializer, "gamma_initializer": layer.gamma_initializer}


@_register(FROM_CONFIG, "Dropout")
def dropout_from_config(cfg, common):
    noise = cfg.get("noise_shape")
    seed = cfg.get("seed")
    return layers.Dropout(float(cfg["rate"]), noise_shape=None if noise is None else tuple(noise),
                          seed=seed if isinstance(seed, int) else None, **common)


@_register(TO_CONFIG, "Dropout")
def dropout_to_config(layer):
    return {"rate": layer.rate, "noise_shape": None if layer.noise_shape is None else list(layer.noise_shape),
            "seed": layer.seed}


@_register(FROM_CONFIG, "Flatten")
def flatten_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last", None), "channels_last")
    return layers.Flatten(**common)


@_register(TO_CONFIG, "Flatten")
def flatten_to_config(layer):
    return {}


@_register(FROM_CONFIG, "Reshape")
def reshape_from_config(cfg, common):
    return layers.Reshape(tuple(int(d) for d in cfg["target_shape"]), **common)


@_register(TO_CONFIG, "Reshape")
def reshape_to_config(layer):
    return {"target_shape": list(layer.target_shape)}


def _pairs(cfg, key):
    value = cfg[key]
    if isinstance(value, int):
        return ((value, value), (value, value))
    return tuple((int(p), int(p)) if isinstance(p, int) else tuple(int(v) for v in p) for p in value)


@_register(FROM_CONFIG, "ZeroPadding2D")
def zero_padding_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last", None), "channels_last")
    return layers.ZeroPadding2D(_pairs(cfg, "padding"), **common)


@_register(TO_CONFIG, "ZeroPadding2D")
def zero_padding_to_config(layer):
    return {"padding": [list(p) for p in layer.padding]}


@_register(FROM_CONFIG, "Cropping2D")
def cropping_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last", None), "channels_last")
    return layers.Cropping2D(_pairs(cfg, "cropping"), **common)


@_register(TO_CONFIG, "Cropping2D")
def cropping_to_config(layer):
    return {"cropping": [list(p) for p in layer.cropping]}


@_register(FROM_CONFIG, "UpSampling2D")
def upsampling_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last", None), "channels_last")
    return layers.UpSampling2D(cfg.ints("size", 2), interpolation=cfg.expect(
        "interpolation", layers.UpSampling2D.INTERPOLATIONS), **common)


@_register(TO_CONFIG, "UpSampling2D")
def upsampling_to_config(layer):
    return {"size": list(layer.size), "interpolation": layer.interpolation}
