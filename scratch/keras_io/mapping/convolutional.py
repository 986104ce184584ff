"""Convolution layers (Keras's ``keras/src/layers/convolutional``)."""
