"""Logit lens: per-layer distributions, translation traces, behaviour classification, set curves."""

from pivotlens.lens.behaviour import CO_OCCURRENCE, SEMANTIC_PIVOT, Behaviour, classify
from pivotlens.lens.core import lens_probabilities
from pivotlens.lens.curves import CurveResult, TokenSetItem, curve_for_token_sets, token_set_curve
from pivotlens.lens.translation import (
    ClassifierSettings,
    ClassifyConfig,
    TranslationPrompt,
    classify_dataset,
    dataset_prompt,
    trace_translation,
    translation_prompt,
)

__all__ = [
    "CO_OCCURRENCE", "SEMANTIC_PIVOT", "Behaviour", "ClassifierSettings", "ClassifyConfig", "CurveResult",
    "TokenSetItem", "TranslationPrompt", "classify", "classify_dataset", "curve_for_token_sets", "dataset_prompt",
    "lens_probabilities", "token_set_curve", "trace_translation", "translation_prompt",
]
