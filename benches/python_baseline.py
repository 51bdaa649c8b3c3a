"""The Python pipeline a user would write instead of maskforge, for benches/speed.sh: jieba
(precise mode, HMM) + Hugging Face BertTokenizerFast + transformers' whole-word
DataCollatorForLanguageModeling (numpy), one process. Documents are blank-line separated;
every line is cut by jieba and tokenized; tokens of one jieba word share a word (through the
offsets the collator reads), lines are packed into sequences of at most 128 tokens and masked
in batches of 32.

    python benches/python_baseline.py TOKENIZER_DIR FILE...
"""

import sys
import time

import jieba
import numpy as np
from transformers import BertTokenizerFast, DataCollatorForLanguageModeling

MAX_LEN = 128
BATCH = 32


def sequences(tokenizer, path):
    """Packed sequences of one file: ids, word-grouping offsets, special-token masks."""
    ids, offsets = [], []
    position = 0

    def flush():
        nonlocal ids, offsets, position
        if ids:
            pad = MAX_LEN - 2 - len(ids)  # padded here: the collator does not pad offsets
            yield {
                "input_ids": [tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id] + [tokenizer.pad_token_id] * pad,
                "attention_mask": [1] * (len(ids) + 2) + [0] * pad,
                "offset_mapping": [(0, 0)] + offsets + [(0, 0)] * (pad + 1),
                "special_tokens_mask": [1] + [0] * len(ids) + [1] * (pad + 1),
            }
        ids, offsets, position = [], [], 0

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                yield from flush()  # a document ends
                continue
            words = list(jieba.tokenize(line, HMM=True))
            encoded = tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)
            word = 0
            previous_word = None
            for token_id, (start, _end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
                while word + 1 < len(words) and words[word][2] <= start:
                    word += 1
                # Tokens of one jieba word touch; a new word leaves a gap.
                position += 0 if word == previous_word else 1
                offsets.append((position, position + 1))
                position += 1
                previous_word = word
                ids.append(token_id)
                if len(ids) == MAX_LEN - 2:
                    yield from flush()
    yield from flush()


def main():
    tokenizer = BertTokenizerFast.from_pretrained(sys.argv[1])
    collator = DataCollatorForLanguageModeling(
        tokenizer, whole_word_mask=True, mlm_probability=0.15, return_tensors="np", seed=12345
    )
    jieba.initialize()
    started = time.perf_counter()
    size, examples, masked = 0, 0, 0
    batch = []
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            size += len(f.read())
        for sequence in sequences(tokenizer, path):
            batch.append(sequence)
            if len(batch) == BATCH:
                out = collator(batch)
                masked += int(np.sum(out["labels"] != -100))
                examples += len(batch)
                batch = []
    if batch:
        out = collator(batch)
        masked += int(np.sum(out["labels"] != -100))
        examples += len(batch)
    seconds = time.perf_counter() - started
    print(f"python baseline: {size / 1e6:.1f} MB, {examples} examples, {masked} masked in {seconds:.2f}s "
          f"({size / 1e6 / seconds:.2f} MB/s)")


if __name__ == "__main__":
    main()
