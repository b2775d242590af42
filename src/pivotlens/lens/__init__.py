"""The lens (logit or tuned): per-layer distributions, translation traces, behaviour classification,
set curves, tuned-lens training.

Names are imported lazily so that `pivotlens --help` (which imports pivotlens.lens.cli) does not
load torch.
"""

from importlib import import_module

_EXPORTS = {
    "CO_OCCURRENCE": "behaviour", "SEMANTIC_PIVOT": "behaviour", "VARIANT": "behaviour", "Behaviour": "behaviour",
    "ItemWords": "behaviour", "label": "behaviour", "read_lens": "behaviour",
    "lens_probabilities": "core",
    "LOGIT_LENS": "decoders", "Decoder": "decoders", "Translators": "decoders", "load_decoder": "decoders",
    "decoder_identity": "decoders", "train_tuned_lens": "tuned",
    "CurveResult": "curves", "TokenSetItem": "curves", "curve_for_token_sets": "curves", "token_set_curve": "curves",
    "ClassifyOptions": "options", "CurveOptions": "options", "TunedLensOptions": "options",
    "ClassifierSettings": "translation", "ClassifyConfig": "translation", "classifier_settings": "translation",
    "classify_config": "translation", "TranslationPrompt": "translation",
    "classify_dataset": "translation", "dataset_prompt": "translation", "trace_translation": "translation",
    "translation_prompt": "translation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pivotlens.lens' has no attribute {name!r}")
    return getattr(import_module(f"pivotlens.lens.{_EXPORTS[name]}"), name)
