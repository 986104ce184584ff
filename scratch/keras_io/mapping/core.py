"""Core layers (Keras's ``keras/src/layers/core``): Dense, Embedding."""

from ... import layers
from ..config import from_config, to_config, weight_options_config


@to_config("Dense")
def dense_to_config(layer):
    return {"units": layer.units, **weight_options_config(layer)}


@from_config("Dense")
def dense_from_config(cfg, common):
    return layers.Dense(int(cfg["units"]), **cfg.weight_options(), **common)


@to_config("Embedding")
def embedding_to_config(layer):
    return {"input_dim": layer.input_dim, "output_dim": layer.output_dim,
            "embeddings_initializer": layer.embeddings_initializer, "mask_zero": False}


@from_config("Embedding")
def embedding_from_config(cfg, common):
    if cfg.get("mask_zero", False):
        cfg.refuse("mask_zero", cfg.get("mask_zero"), "False (the scratch engine has no masks for the layers after it)")
    for key in ("embeddings_regularizer", "embeddings_constraint", "activity_regularizer", "lora_rank",
                "quantization_config"):
        if cfg.get(key) is not None:
            value = cfg.get(key)
            cfg.refuse(key, value.get("class_name", value) if isinstance(value, dict) else value, "None")
    initializer = cfg.initializer("embeddings_initializer", "uniform")
    return layers.Embedding(int(cfg["input_dim"]), int(cfg["output_dim"]), embeddings_initializer=initializer,
                            **common)
