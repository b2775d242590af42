"""pivotlens: semantic pivots and cross-lingual transfer in large language models."""

__version__ = "0.1.0"
