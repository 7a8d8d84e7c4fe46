"""An in-process Hugging Face causal LM loaded from a local path (never downloaded).

torch and transformers are optional (the ``longdoc`` extra) and imported only when
the model is loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lycheemem.errors import ConfigError
from lycheemem.longdoc.backends.base import Completion, Judgement, PromptedModel, PromptRequest
from lycheemem.longdoc.prompts import render_plain

__all__ = ["TransformersModel"]

_YES_WORDS = ("yes", " yes", "Yes", " Yes", "YES")
_NO_WORDS = ("no", " no", "No", " No", "NO")


class TransformersModel(PromptedModel):
    """Batched greedy generation and yes/no logits on one worker thread.

    Promises: loads with ``local_files_only=True`` (a missing path raises
    ``ConfigError``); bf16 on CUDA, float32 on CPU; requests are processed in batches
    of ``batch_size`` with left padding; each output is cut to its own ``max_tokens``;
    inputs longer than the context keep their last tokens.
    """

    name = "transformers"

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "auto",
        batch_size: int = 8,
        context_tokens: int = 32_768,
    ) -> None:
        self.model_path = Path(model_path)
        self._device_setting = device
        self._batch_size = batch_size
        self.context_tokens = context_tokens
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="longdoc-transformers")
        self._torch: Any = None
        self._model: Any = None
        self._tokenizer: Any = None
        self.device = "cpu"

    # -- loading -------------------------------------------------------------
    def load(self) -> None:
        """Load tokenizer and weights (blocking; runs on the worker thread on first use)."""
        if self._model is not None:
            return
        if not (self.model_path / "config.json").is_file():
            raise ConfigError(f"LYCHEEMEM_LONGDOC_MODEL_PATH {str(self.model_path)!r} has no model")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        cuda = torch.cuda.is_available() and self._device_setting in ("auto", "cuda")
        self.device = "cuda" if cuda else "cpu"
        tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(
            self.model_path,
            local_files_only=True,
            dtype=torch.bfloat16 if cuda else torch.float32,
        )
        # transformers types `to` as a decorator-wrapped method expecting the model first.
        self._model = model.to(self.device).eval()  # type: ignore[arg-type]
        self._tokenizer = tokenizer

    # -- primitives ----------------------------------------------------------
    async def generate(self, requests: Sequence[PromptRequest]) -> list[Completion]:
        """Greedy completions in batches, in request order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._generate_all, list(requests))

    async def yes_probability(self, requests: Sequence[PromptRequest]) -> list[Judgement]:
        """P(yes) renormalised over yes/no from the next-token logits, in request order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._judge_all, list(requests))

    def _batches(self, requests: list[PromptRequest]) -> list[list[PromptRequest]]:
        size = self._batch_size
        return [requests[i : i + size] for i in range(0, len(requests), size)]

    def _encode(self, requests: list[PromptRequest], room: int) -> Any:
        texts = [self._render(r.messages) for r in requests]
        self._tokenizer.truncation_side = "left"
        encoded = self._tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max(8, self.context_tokens - room),
            add_special_tokens=False,
        )
        return encoded.to(self.device)

    def _render(self, messages: list[Any]) -> str:
        if getattr(self._tokenizer, "chat_template", None):
            return str(
                self._tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        return render_plain(messages)

    def _generate_all(self, requests: list[PromptRequest]) -> list[Completion]:
        self.load()
        out: list[Completion] = []
        for batch in self._batches(requests):
            out.extend(self._generate_batch(batch))
        return out

    def _generate_batch(self, batch: list[PromptRequest]) -> list[Completion]:
        torch = self._torch
        new_tokens = max(r.max_tokens for r in batch)
        encoded = self._encode(batch, new_tokens)
        with torch.inference_mode():
            output = self._model.generate(
                **encoded,
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=self._tokenizer.pad_token_id,
            )
        prompt_len = encoded["input_ids"].shape[1]
        results = []
        for row, request in enumerate(batch):
            generated = self._strip(output[row, prompt_len:].tolist())[: request.max_tokens]
            text = self._tokenizer.decode(generated, skip_special_tokens=True).strip()
            prompt_tokens = int(encoded["attention_mask"][row].sum().item())
            results.append(Completion(text, prompt_tokens, len(generated)))
        return results

    def _strip(self, ids: list[int]) -> list[int]:
        eos = self._tokenizer.eos_token_id
        if eos is not None and eos in ids:
            ids = ids[: ids.index(eos)]
        return ids

    def _judge_all(self, requests: list[PromptRequest]) -> list[Judgement]:
        self.load()
        yes_ids, no_ids = self._word_ids(_YES_WORDS), self._word_ids(_NO_WORDS)
        out: list[Judgement] = []
        for batch in self._batches(requests):
            out.extend(self._judge_batch(batch, yes_ids, no_ids))
        return out

    def _judge_batch(
        self, batch: list[PromptRequest], yes_ids: list[int], no_ids: list[int]
    ) -> list[Judgement]:
        torch = self._torch
        encoded = self._encode(batch, 1)
        with torch.inference_mode():
            logits = self._model(**encoded).logits[:, -1, :].float()
        probs = torch.softmax(logits, dim=-1)
        yes = probs[:, yes_ids].sum(dim=-1)
        no = probs[:, no_ids].sum(dim=-1)
        p_yes = (yes / (yes + no).clamp_min(1e-12)).tolist()
        lengths = encoded["attention_mask"].sum(dim=-1).tolist()
        return [Judgement(float(p), int(n), 1) for p, n in zip(p_yes, lengths, strict=True)]

    def _word_ids(self, words: Sequence[str]) -> list[int]:
        ids: set[int] = set()
        unknown = self._tokenizer.unk_token_id
        for word in words:
            pieces = self._tokenizer.encode(word, add_special_tokens=False)
            if pieces and pieces[0] != unknown:
                ids.add(pieces[0])
        return sorted(ids)

    def peak_memory_bytes(self) -> int:
        """Peak CUDA memory allocated so far (0 on CPU)."""
        if self._torch is None or self.device != "cuda":
            return 0
        return int(self._torch.cuda.max_memory_allocated())

    async def close(self) -> None:
        """Drop the weights and stop the worker thread (idempotent)."""
        self._model = None
        self._executor.shutdown(wait=False)
