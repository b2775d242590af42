"""CLWTD: the Cross-Lingual Word Translation Dataset (format, loader/validator, bundled data, the
Hugging Face ``datasets`` export)."""

from pivotlens.clwtd.hf import load_dataset
from pivotlens.clwtd.schema import (
    BUNDLED_DATASETS,
    N_DISTRACTORS,
    SCHEMA_VERSION,
    Dataset,
    Entry,
    parse_entries,
)

__all__ = ["BUNDLED_DATASETS", "N_DISTRACTORS", "SCHEMA_VERSION", "Dataset", "Entry", "load_dataset", "parse_entries"]
