"""The CLWTD ability score (docs/design.md §1.2) as an lm-evaluation-harness task.

Each item sends, per shot draw, the source word's prompt and its 9 distractors' prompts as 10
``loglikelihood`` requests with the same continuation; prompts, shots and seeds come from
``scoring.draws.item_draws``, the function `pivotlens score` plans with. lm-eval answers with the
continuation's *summed* log-probability; P = exp(sum / n) needs its token count n, which the task
takes from pivotlens' own tokenisation of the request (``scoring.ability.plan_item``, with the
model's tokenizer: ``pretrained`` of ``--model_args``, which lm-eval passes to tasks as metadata, or
``tokenizer`` in ``--metadata``). lm-eval's HF backend scores the tokens of ``tok(prompt +
continuation)`` after ``tok(prompt)``; pivotlens those that end past the prompt: the same tokens
whenever the prompt's tokens start the joint ones, as they do at the ``":" + " word"`` boundary
(``check_same_tokens`` refuses an item where they do not). The score of an item is then
``ItemDraws.record()``'s, the one `pivotlens score` writes.

``--metadata`` keys: ``dataset`` (anything ``clwtd.load_dataset`` takes; default ``clwtd``), ``draws``
and ``seed`` (as `pivotlens score`); ``--num_fewshot`` sets the shots (default 5). ``--limit N`` scores
the first N items, as ``pivotlens score --limit N`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
from lm_eval.api.instance import Instance
from lm_eval.api.metrics import mean
from lm_eval.api.task import Task
from lm_eval.config.task import TaskConfig

from pivotlens.clwtd import load_dataset
from pivotlens.errors import PivotlensError
from pivotlens.languages import parse_pairs
from pivotlens.models.loading import load_tokenizer
from pivotlens.scoring.ability import ScoreConfig, plan_item
from pivotlens.scoring.draws import DrawPrompts, item_draws
from pivotlens.scoring.likelihood import TokenizedRequest
from pivotlens.scoring.options import ScoreOptions

DEFAULT_DATASET = "clwtd"
DEFAULTS = ScoreOptions()
DEFAULT_SEED = 0  # `pivotlens score --seed`'s default


class ClwtdTask(Task):
    VERSION = 1
    OUTPUT_TYPE = "loglikelihood"

    def __init__(self, config: dict[str, Any]) -> None:
        metadata = dict(config.get("metadata") or {})
        [(self.src, self.tgt)] = parse_pairs(config["pair"])
        self.dataset_spec = str(metadata.get("dataset", DEFAULT_DATASET))
        self.draws = int(metadata.get("draws", DEFAULTS.draws))
        self.seed = int(metadata.get("seed", DEFAULT_SEED))
        self.tokenizer_spec = metadata.get("tokenizer") or metadata.get("pretrained")
        self._tokenizer = None
        # per (item index, shots): every step of a doc asks again; --num_fewshot may change the shots
        self._draws: dict[tuple[int, int], list[DrawPrompts]] = {}
        # Task.__init__ builds a default generate_until config first, which logs a warning about
        # generation settings this task never uses; the real config replaces it below.
        config_logger = logging.getLogger("lm_eval.config.task")
        level = config_logger.level
        config_logger.setLevel(logging.ERROR)
        try:
            super().__init__()  # calls download()
        finally:
            config_logger.setLevel(level)
        # num_fewshot is the shots of every prompt: lm-eval sets an unset one to 0, --num_fewshot overrides it
        self._config = TaskConfig(task=config["task"], output_type=self.OUTPUT_TYPE, metadata=metadata,
                                  num_fewshot=DEFAULTS.shots)

    def download(self, *args, **kwargs) -> None:
        self.clwtd = load_dataset(self.dataset_spec)

    @property
    def shots(self) -> int:
        return int(self.config.num_fewshot)

    def has_training_docs(self) -> bool:
        return False

    def has_validation_docs(self) -> bool:
        return False

    def has_test_docs(self) -> bool:
        return True

    def test_docs(self) -> list[dict[str, Any]]:
        return [{"index": index, "id": entry.id, "source": entry.word[self.src], "target": entry.word[self.tgt],
                 "distractors": list(entry.distractors_for(self.src, self.tgt))}
                for index, entry in enumerate(self.clwtd.entries)]

    def item_draws(self, doc: dict[str, Any]) -> list[DrawPrompts]:
        key = (doc["index"], self.shots)
        if key not in self._draws:
            self._draws[key] = item_draws(self.clwtd, key[0], self.src, self.tgt, self.draws, self.shots, self.seed)
        return self._draws[key]

    def doc_to_text(self, doc: dict[str, Any]) -> str:
        return self.item_draws(doc)[0].prompts[0]

    def doc_to_target(self, doc: dict[str, Any]) -> str:
        return self.item_draws(doc)[0].continuation

    def fewshot_context(self, doc: dict[str, Any], num_fewshot: int, **kwargs) -> str:
        """The shots are inside every prompt already, drawn as `pivotlens score` draws them."""
        return self.doc_to_text(doc)

    def construct_requests(self, doc: dict[str, Any], ctx: str, *, metadata=None, apply_chat_template: bool = False,
                           **kwargs) -> list[Instance]:
        if apply_chat_template:
            raise PivotlensError("the CLWTD score is defined on the plain prompt: run without --apply_chat_template")
        return [Instance(request_type="loglikelihood", doc=doc, arguments=(prompt, draw.continuation), idx=index,
                         metadata=metadata)
                for index, (draw, prompt) in enumerate((draw, prompt) for draw in self.item_draws(doc)
                                                       for prompt in draw.prompts)]

    def tokenizer(self):
        if self._tokenizer is None:
            if not self.tokenizer_spec:
                raise PivotlensError("the CLWTD task needs the model's tokenizer to count continuation tokens: "
                                     "give pretrained=… in --model_args or --metadata '{\"tokenizer\": \"…\"}'")
            self._tokenizer = load_tokenizer(str(self.tokenizer_spec))
        return self._tokenizer

    def process_results(self, doc: dict[str, Any], results: Iterable[tuple[float, bool]]) -> dict[str, float]:
        config = ScoreConfig(model=str(self.tokenizer_spec), dataset_sha256=self.clwtd.sha256, pairs=((self.src, self.tgt),),
                             draws=self.draws, shots=self.shots, seed=self.seed)
        item = plan_item(self.tokenizer(), self.clwtd, doc["index"], self.src, self.tgt, config)
        summed = np.array([logprob for logprob, _ in results]).reshape(len(item.requests), -1)
        for draw, request, logprobs in zip(self.item_draws(doc), item.requests, summed):
            self.check_same_tokens(doc, draw, request)
            item.probabilities.append(np.exp(logprobs / np.array(request.continuation_lengths())))
        record = item.record()
        return {"score": record.score, "p_source": float(np.mean([draw.p_source for draw in record.draws])),
                "p_distractors": float(np.mean([draw.p_distractors for draw in record.draws]))}

    def check_same_tokens(self, doc: dict[str, Any], draw: DrawPrompts, request: TokenizedRequest) -> None:
        """lm-eval's HF backend sums the tokens of tok(prompt + continuation) after tok(prompt); pivotlens
        divides by the count of those ending past the prompt. Both are the same tokens exactly when
        tok(prompt) is the joint sequence's start."""
        prompt_ids = self.tokenizer()(list(draw.prompts))["input_ids"]
        for prompt, ids, sequence, start in zip(draw.prompts, prompt_ids, request.sequences, request.continuation_starts):
            if list(sequence[:start]) != list(ids):
                raise PivotlensError(f"item {doc['id']!r}: this tokenizer merges the prompt's end with the continuation "
                                     f"{draw.continuation!r}, so lm-eval would score other tokens than pivotlens; "
                                     f"use `pivotlens score` (prompt ends {prompt[-20:]!r})")

    def aggregation(self) -> dict:
        return {"score": mean, "p_source": mean, "p_distractors": mean}

    def higher_is_better(self) -> dict:
        return {"score": True, "p_source": True, "p_distractors": False}
