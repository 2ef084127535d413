"""Reusable neural building blocks: SEANet conv encoder/decoder, residual VQ, codec losses.

The RVQ codec (``tokenizers/rvq.py``) composes them; the unit vocoder reuses the decoder
blocks, the reconstruction losses and the optional STFT discriminator. Import the submodules
directly (``from audiotokens.nn.quantizer import ResidualVQ``): this package keeps torch out of
``import audiotokens``.
"""

__all__: list[str] = []
