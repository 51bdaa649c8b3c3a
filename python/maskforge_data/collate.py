"""Padding examples into a batch with Hugging Face's argument names, as the Rust loader pads
(crates/trainer/src/loader/batch.rs): the longest example rounded up to a multiple of 8,
``labels`` -100 wherever nothing is predicted, the sentence label of the task.
"""

from __future__ import annotations

import numpy as np

IGNORE = -100

SENTENCE_LABEL = {"nsp": ("nsp_label", "next_sentence_label"), "sop": ("sop_label", "sentence_order_label")}


def collate(examples: list[dict], pad_id: int, task: str, pad_to_multiple_of: int = 8) -> dict:
    """A batch of int64 numpy arrays: ``input_ids``, ``token_type_ids``, ``attention_mask``,
    ``labels`` (``[B, L]``) and, for ``nsp``/``sop``, ``next_sentence_label`` /
    ``sentence_order_label`` (``[B]``, -100 where the example has none).

    ``examples`` are rows of the examples schema (dicts with ``input_ids``, ``token_type_ids``,
    ``masked_positions``, ``masked_labels``, ``nsp_label``, ``sop_label``).
    """
    longest = max((len(e["input_ids"]) for e in examples), default=0)
    multiple = max(pad_to_multiple_of, 1)
    seq_len = -(-longest // multiple) * multiple
    size = len(examples)
    input_ids = np.full((size, seq_len), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((size, seq_len), dtype=np.int64)
    attention_mask = np.zeros((size, seq_len), dtype=np.int64)
    labels = np.full((size, seq_len), IGNORE, dtype=np.int64)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        input_ids[row, :n] = e["input_ids"]
        token_type_ids[row, :n] = e["token_type_ids"]
        attention_mask[row, :n] = 1
        labels[row, np.asarray(e["masked_positions"], dtype=np.int64)] = e["masked_labels"]
    batch = {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "labels": labels,
    }
    if task in SENTENCE_LABEL:
        column, name = SENTENCE_LABEL[task]
        values = np.array([e[column] for e in examples], dtype=np.int64)
        batch[name] = np.where(values < 0, IGNORE, values)
    return batch
