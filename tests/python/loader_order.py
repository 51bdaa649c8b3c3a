"""Prints the batches one rank of the Python loader reads, as JSON (one line): for each step the
example ids, the batch's array shapes and the sum of each array. The Rust test
`crates/trainer/tests/python_loader.rs` compares it with the Rust loader.

usage: loader_order.py EPOCH_DIR --seed S --global-batch B --world W --rank R [--state JSON] [--held-out I,J]
                       [--split train|validation|test]
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

from maskforge_data import ExamplesEpoch, ExamplesLoader  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("epoch_dir")
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--global-batch", type=int, required=True)
parser.add_argument("--world", type=int, default=1)
parser.add_argument("--rank", type=int, default=0)
parser.add_argument("--state", default=None)
parser.add_argument("--held-out", default="")
parser.add_argument("--split", default="train")
args = parser.parse_args()

loader = ExamplesLoader(
    ExamplesEpoch(args.epoch_dir, args.split),
    seed=args.seed,
    global_batch=args.global_batch,
    rank=args.rank,
    world_size=args.world,
    state=json.loads(args.state) if args.state else None,
    with_example_ids=True,
    held_out=[int(i) for i in args.held_out.split(",") if i],
)
steps = []
for batch in loader:
    ids = batch.pop("example_ids")
    steps.append(
        {
            "example_ids": ids,
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "sum": int(v.sum())} for k, v in sorted(batch.items())},
        }
    )
print(json.dumps({"steps": steps, "state": loader.state().to_dict()}))
