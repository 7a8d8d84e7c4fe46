"""The transformers backend with a tiny random model and tokenizer built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from longdoc_support import planted_document

from lycheemem.errors import ConfigError
from lycheemem.longdoc.backends.transformers_backend import TransformersModel
from lycheemem.longdoc.prompts import gate_messages

pytestmark = pytest.mark.anyio

QUESTION = "In which city does the designer of the Zephyrine lamp live?"


def _build_tiny_model(folder: Path) -> None:
    """A 2-layer Llama with random weights and a word-level tokenizer, saved locally."""
    # the `longdoc` extra is installed for the test run: a missing torch must fail, not skip
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = set(planted_document(4, {}).lower().replace(".", " . ").split())
    words |= set(" ".join(m["content"] for m in gate_messages(QUESTION, "", "")).lower().split())
    vocab = {"[UNK]": 0, "[PAD]": 1, "[EOS]": 2, "yes": 3, "no": 4}
    for word in sorted(words):
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    tokenizer.save_pretrained(folder)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=1,
        eos_token_id=2,
        bos_token_id=2,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    _build_tiny_model(folder)
    return folder


async def test_primitives_batch_and_respect_caps(tiny_model_dir: Path) -> None:
    model = TransformersModel(tiny_model_dir, device="cpu", batch_size=2, context_tokens=1024)
    texts = [planted_document(1, {}), "The river staff reviewed the plans.", "short text"]
    notes = await model.compress(texts, max_tokens=[5, 3, 4])
    assert [n.completion_tokens <= cap for n, cap in zip(notes, [5, 3, 4], strict=True)] == [
        True
    ] * 3
    assert all(n.prompt_tokens > 0 for n in notes)
    verdicts = await model.judge(QUESTION, "", ["river plans", "the lamp", "staff"])
    assert len(verdicts) == 3 and all(0.0 <= v.p_yes <= 1.0 for v in verdicts)
    assert len({round(v.p_yes, 6) for v in verdicts}) > 1  # the passage changes the logits
    memory = await model.update_memory(QUESTION, "", "river plans", max_tokens=6)
    assert memory.completion_tokens <= 6
    assert model.device == "cpu" and model.peak_memory_bytes() == 0
    await model.close()


async def test_service_runs_end_to_end_on_transformers(make_service, tiny_model_dir) -> None:
    model = TransformersModel(tiny_model_dir, device="cpu", batch_size=4, context_tokens=1024)
    service = await make_service(model=model, chunk_tokens=128, gate_threshold=0.0)
    doc = await service.create_document("alice", title="t", text=planted_document(6, {}))
    doc = await service.wait_ready("alice", doc.doc_id)
    assert doc.status == "ready", doc.error
    result = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION, memory_tokens=64)
    # threshold 0 opens every judged candidate: gate, reasoner and answer all ran
    assert result.chunks_opened >= 1 and result.llm_calls > result.chunks_opened
    assert result.completion_tokens > 0


def test_missing_model_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MODEL_PATH"):
        TransformersModel(tmp_path / "nothing").load()
