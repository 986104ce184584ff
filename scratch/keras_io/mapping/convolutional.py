"""Convolution layers (Keras's ``keras/src/layers/convolutional``), in 1, 2 and 3 spatial dimensions:
Conv1D/2D/3D (dilated, grouped, Conv1D causal), DepthwiseConv1D/2D, SeparableConv1D/2D,
Conv1D/2D/3DTranspose (output_padding, dilation).

Refused in one line: ``data_format="channels_first"``. (Regularizers, constraints, LoRA and
quantization are refused for every layer by ``keras_ref.convert`` before the config is read.)
Initializers only shape fresh weights: unknown ones map to the default, as for Dense.
"""

from ... import layers
from ..config import from_config, keras_activation, to_config, weight_options_config

RANKS = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3, "DepthwiseConv1D": 1, "DepthwiseConv2D": 2, "SeparableConv1D": 1,
         "SeparableConv2D": 2, "Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3}
CONVS = ("Conv1D", "Conv2D", "Conv3D")
DEPTHWISE = ("DepthwiseConv1D", "DepthwiseConv2D")
SEPARABLE = ("SeparableConv1D", "SeparableConv2D")
TRANSPOSED = ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")


def _geometry_config(layer):
    return {"kernel_size": list(layer.kernel_size), "strides": list(layer.strides), "padding": layer.padding,
            "data_format": "channels_last", "dilation_rate": list(layer.dilation_rate)}


def _geometry(cfg):
    """``kernel_size``, ``strides``, ``padding``, ``dilation_rate`` of a Keras config (channels_last only)."""
    cfg.expect("data_format", ("channels_last",), "channels_last")
    rank = RANKS[cfg.class_name]
    paddings = ("valid", "same", "causal") if cfg.class_name == "Conv1D" else ("valid", "same")
    return dict(kernel_size=cfg.ints("kernel_size", rank), strides=cfg.ints("strides", rank, 1),
                padding=cfg.expect("padding", paddings, "valid"),
                dilation_rate=cfg.ints("dilation_rate", rank, 1))


def check_tf_depthwise_strides(layer):
    """TensorFlow's depthwise kernel (under Keras's DepthwiseConv2D and SeparableConv2D) takes only
    equal row and column strides, except where Keras decomposes a strided dilated convolution
    (stride 1, then subsampling): refuse what the twin could not compute, naming the setting."""
    strided_dilated = max(layer.strides) > 1 and max(layer.dilation_rate) > 1
    if len(layer.strides) == 2 and layer.strides[0] != layer.strides[1] and not strided_dilated:
        raise ValueError(f"to_keras: layer {layer.label} has strides={layer.strides}; Keras's TensorFlow backend "
                         f"computes {type(layer).__name__} only with equal row and column strides")


@to_config(*CONVS)
def conv_to_config(layer):
    return {"filters": layer.filters, **_geometry_config(layer), "groups": layer.groups,
            **weight_options_config(layer)}


@from_config(*CONVS)
def conv_from_config(cfg, common):
    return getattr(layers, cfg.class_name)(int(cfg["filters"]), groups=int(cfg.get("groups", 1)), **_geometry(cfg),
                                           **cfg.weight_options(), **common)


def _depthwise_config(layer):
    return {"depth_multiplier": layer.depth_multiplier, "activation": keras_activation(layer.activation.name),
            "use_bias": layer.use_bias, "depthwise_initializer": layer.depthwise_initializer,
            "bias_initializer": layer.bias_initializer}


def _depthwise_options(cfg):
    return dict(depth_multiplier=int(cfg.get("depth_multiplier", 1)), activation=cfg.activation(),
                use_bias=bool(cfg.get("use_bias", True)),
                depthwise_initializer=cfg.initializer("depthwise_initializer", "glorot_uniform"),
                bias_initializer=cfg.initializer("bias_initializer", "zeros"))


@to_config(*DEPTHWISE)
def depthwise_to_config(layer):
    check_tf_depthwise_strides(layer)
    return {**_geometry_config(layer), **_depthwise_config(layer)}


@from_config(*DEPTHWISE)
def depthwise_from_config(cfg, common):
    return getattr(layers, cfg.class_name)(**_geometry(cfg), **_depthwise_options(cfg), **common)


@to_config(*SEPARABLE)
def separable_to_config(layer):
    check_tf_depthwise_strides(layer)
    return {"filters": layer.filters, **_geometry_config(layer), **_depthwise_config(layer),
            "pointwise_initializer": layer.pointwise_initializer}


@from_config(*SEPARABLE)
def separable_from_config(cfg, common):
    return getattr(layers, cfg.class_name)(
        int(cfg["filters"]), pointwise_initializer=cfg.initializer("pointwise_initializer", "glorot_uniform"),
        **_geometry(cfg), **_depthwise_options(cfg), **common)


@to_config(*TRANSPOSED)
def transpose_to_config(layer):
    return {"filters": layer.filters, **_geometry_config(layer),
            "output_padding": None if layer.output_padding is None else list(layer.output_padding),
            **weight_options_config(layer)}


@from_config(*TRANSPOSED)
def transpose_from_config(cfg, common):
    output_padding = None if cfg.get("output_padding") is None else cfg.ints("output_padding", RANKS[cfg.class_name])
    return getattr(layers, cfg.class_name)(int(cfg["filters"]), output_padding=output_padding, **_geometry(cfg),
                                           **cfg.weight_options(), **common)
