"""The PyTorch side of benches/gpu.sh: transformers' BertForPreTraining with the sizes of a
maskforge-train run file, trained with AdamW in fp32 on the same examples epoch (batches from
maskforge_data in the Rust loader's order), on CUDA. Prints the loss now and then and, last,
real (unpadded) tokens per second over the steps after a short warm-up.

    python3 benches/gpu_torch.py EPOCH_DIR RUN.toml [--steps N] [--batch B] [--lr LR]
"""

import argparse
import os
import sys
import time
import tomllib

import torch
from transformers import BertConfig, BertForPreTraining

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from maskforge_data import ExamplesLoader  # noqa: E402
from maskforge_data.dataset import ExamplesEpoch  # noqa: E402

WARMUP = 5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("epoch")
    ap.add_argument("run")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    args = ap.parse_args()
    model_keys = tomllib.load(open(args.run, "rb"))["model"]
    epoch = ExamplesEpoch(args.epoch)
    config = BertConfig(
        vocab_size=len(epoch.vocabulary()),
        hidden_size=model_keys["hidden_size"],
        num_hidden_layers=model_keys["layers"],
        num_attention_heads=model_keys["heads"],
        intermediate_size=model_keys["intermediate_size"],
        max_position_embeddings=model_keys.get("max_positions", 512),
        hidden_dropout_prob=model_keys.get("dropout", 0.1),
        attention_probs_dropout_prob=model_keys.get("dropout", 0.1),
    )
    device = torch.device("cuda")
    model = BertForPreTraining(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    loader = iter(ExamplesLoader(epoch, seed=1, global_batch=args.batch))
    tokens, started = 0, None
    for step in range(args.steps):
        if step == WARMUP:
            torch.cuda.synchronize()
            tokens, started = 0, time.perf_counter()
        try:
            batch = next(loader)
        except StopIteration:
            loader = iter(ExamplesLoader(epoch, seed=1, global_batch=args.batch, state={"epoch": 1}))
            batch = next(loader)
        inputs = {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items() if k != "example_ids"}
        if "sentence_order_label" in inputs:
            inputs["next_sentence_label"] = inputs.pop("sentence_order_label")
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    print(f"{tokens / seconds:.0f} tokens/s (PyTorch {torch.__version__}, {args.steps - WARMUP} steps)")


if __name__ == "__main__":
    main()
