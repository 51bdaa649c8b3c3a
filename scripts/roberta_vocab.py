"""Writes assets/vocab/roberta/vocab.json: GPT-2's byte-level BPE vocabulary with RoBERTa's
special tokens at RoBERTa's ids (<s>=0, <pad>=1, </s>=2, <unk>=3), every GPT-2 token moved up by
4 in GPT-2's order, and <mask> after the last one (50261), so that a stock RoBERTa model config
(vocab_size 50265, pad_token_id 1, bos 0, eos 2) fits. The merges are GPT-2's, unchanged.

usage: python3 scripts/roberta_vocab.py   (from the repository root; the output is committed)
"""

import json

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]

gpt2 = json.load(open("assets/vocab/gpt2/vocab.json", encoding="utf-8"))
by_id = sorted(gpt2.items(), key=lambda item: item[1])
assert [i for _, i in by_id] == list(range(len(by_id))), "GPT-2 ids are dense"
vocab = {token: i for i, token in enumerate(SPECIALS)}
for token, i in by_id:
    assert token not in vocab
    vocab[token] = i + len(SPECIALS)
vocab["<mask>"] = len(vocab)
with open("assets/vocab/roberta/vocab.json", "w", encoding="utf-8") as f:
    json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))
print(f"{len(vocab)} ids, <mask> = {vocab['<mask>']}")
