#!/usr/bin/env bash
# By hand, not in CI (torch is several GB): trains a tiny BertForPreTraining (NSP) and a tiny
# RobertaForMaskedLM with transformers.Trainer on the train split of maskforge epochs, as
# docs/consuming.md shows, and prints the loss on the validation split before and after. Also runs every block of docs/consuming.md, the torch
# ones included.
#
#   bash benches/hf_trainer.sh            (installs torch and transformers when missing)
#   MODELS=roberta bash benches/hf_trainer.sh   (one of the two models)
set -euo pipefail
cd "$(dirname "$0")/.."
corpora="${MASKFORGE_CORPORA:-../shared/corpora}"
python3 -c 'import torch, transformers, accelerate' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check torch transformers accelerate

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# MASKFORGE_BIN=path/to/maskforge skips the release build (the epochs are small).
bin="${MASKFORGE_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -q -p maskforge
    bin="${CARGO_TARGET_DIR:-target}/release/maskforge"
fi
"$bin" run pipelines/quickstart.toml --output "$work/out/quickstart" --quiet
"$bin" run pipelines/quickstart.toml --output "$work/out/quickstart-split" --quiet --set output.validation_fraction=0.2
split=(--set output.validation_fraction=0.05)
"$bin" run pipelines/bert-nsp-en.toml --input "$corpora/en/fortunes.txt" --output "$work/bert" --quiet "${split[@]}"
"$bin" run pipelines/roberta-en.toml --input "$corpora/en/fortunes.txt" --output "$work/roberta" --quiet \
    --set pairs.max_seq_length=128 "${split[@]}"
ln -s "$PWD/python" "$work/python"
python3 tests/python/run_doc_blocks.py docs/consuming.md "$work" --require-all

python3 - "$work" <<'PY'
import json, os, sys
sys.path.insert(0, "python")
import torch
from transformers import (BertConfig, BertForPreTraining, RobertaConfig, RobertaForMaskedLM,
                          Trainer, TrainingArguments)
from maskforge_data.torch import MaskforgeDataset

work = sys.argv[1]
size = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
models = {"bert": lambda h: BertForPreTraining(BertConfig(**size, **h)),
          "roberta": lambda h: RobertaForMaskedLM(RobertaConfig(**size, **h))}
for name in os.environ.get("MODELS", "bert roberta").split():
    make = models[name]
    root = os.path.join(work, name, "epochs/0")
    hints = json.load(open(os.path.join(root, "model_hints.json")))
    data, held_out = MaskforgeDataset(root), MaskforgeDataset(root, "validation")
    torch.manual_seed(0)
    model = make(hints["hf_config"])
    args = TrainingArguments(output_dir=os.path.join(work, f"{name}-trainer"), per_device_train_batch_size=32,
                             per_device_eval_batch_size=64, max_steps=300, learning_rate=1e-3, warmup_steps=30,
                             remove_unused_columns=False, report_to=[], logging_steps=50, save_strategy="no",
                             seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=held_out,
                      data_collator=data.data_collator)
    before = trainer.evaluate()["eval_loss"]
    result = trainer.train()
    after = trainer.evaluate()["eval_loss"]
    print(f"{name}: {len(data)} train / {len(held_out)} validation examples; validation loss "
          f"{before:.2f} -> {after:.2f} after 300 steps (mean training loss {result.training_loss:.2f})")
PY
