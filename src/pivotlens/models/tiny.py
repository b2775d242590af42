"""Small randomly initialised models of several architectures, with a locally trained tokenizer.

Tests and offline demos must never download anything: the tokenizer is a byte-level BPE trained
with the ``tokenizers`` library on bundled en/fr/zh/ja text, and the model is built from a config.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BloomConfig,
    BloomForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Olmo2Config,
    Olmo2ForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from pivotlens.errors import ModelError
from pivotlens.languages import LANGUAGES

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
HIDDEN, LAYERS, HEADS, FFN, CONTEXT = 64, 3, 4, 128, 512


CORPUS_FILES = ("data/tokenizer_corpus.txt", "data/udhr_more.txt")  # sections "# udhr <file>", "# clwtd sample words"


def tokenizer_corpus(languages: Sequence[str] | None = None) -> list[str]:
    """The UDHR of ``languages`` (default: every registered one), a line per heading or paragraph,
    and the words of the bundled CLWTD sample."""
    wanted = {"udhr " + LANGUAGES[code].udhr.removesuffix(".html") for code in (languages or LANGUAGES)}
    lines: list[str] = []
    for name in CORPUS_FILES:
        section = ""
        for line in files("pivotlens.models").joinpath(name).read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                section = line[2:]
            elif line.strip() and (section in wanted or not section.startswith("udhr ")):
                lines.append(line)
    return lines


def train_tokenizer(vocab_size: int = 2000, languages: Sequence[str] | None = None) -> PreTrainedTokenizerFast:
    """Byte-level BPE on the bundled corpus; prepends BOS like most modern LMs do."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(tokenizer_corpus(languages), trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, tokenizer.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD)


def _common(tokenizer: PreTrainedTokenizerFast) -> dict[str, int | float]:
    return {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        # Larger than the usual 0.02 so the random model's distributions are far from uniform.
        "initializer_range": 0.2,
    }


def _llama_like(config_cls: type[PretrainedConfig]) -> Callable[[dict], PretrainedConfig]:
    return lambda common: config_cls(
        hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=2, max_position_embeddings=CONTEXT, tie_word_embeddings=False, **common,
    )


TINY_ARCHITECTURES: dict[str, tuple[Callable[[dict], PretrainedConfig], type[PreTrainedModel]]] = {
    "llama": (_llama_like(LlamaConfig), LlamaForCausalLM),
    "qwen2": (_llama_like(Qwen2Config), Qwen2ForCausalLM),
    "olmo2": (_llama_like(Olmo2Config), Olmo2ForCausalLM),
    "gemma3": (
        lambda common: Gemma3TextConfig(
            hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
            num_key_value_heads=1, head_dim=16, max_position_embeddings=CONTEXT, sliding_window=CONTEXT,
            **common,
        ),
        Gemma3ForCausalLM,
    ),
    "gpt2": (
        lambda common: GPT2Config(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=CONTEXT, **common),
        GPT2LMHeadModel,
    ),
    "gpt_neox": (
        lambda common: GPTNeoXConfig(
            hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
            max_position_embeddings=CONTEXT, tie_word_embeddings=False, **common,
        ),
        GPTNeoXForCausalLM,
    ),
    "bloom": (
        lambda common: BloomConfig(hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS, **common),
        BloomForCausalLM,
    ),
}


def build_tiny_model(architecture: str, out_dir: str | Path, seed: int = 0, vocab_size: int = 2000) -> Path:
    """Write a randomly initialised model + tokenizer to ``out_dir`` (loadable with load_model)."""
    if architecture not in TINY_ARCHITECTURES:
        raise ModelError(f"no tiny {architecture!r}: choose from {', '.join(TINY_ARCHITECTURES)}")
    make_config, model_cls = TINY_ARCHITECTURES[architecture]
    tokenizer = train_tokenizer(vocab_size)
    torch.manual_seed(seed)
    model = model_cls(make_config(_common(tokenizer)))
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
