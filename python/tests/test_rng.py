"""The Python keyed stream equals Rust's: the numbers pinned in crates/masking/src/rng.rs.

Run: python3 python/tests/test_rng.py
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from maskforge_data._rng import KeyedRng, mix64  # noqa: E402

r = KeyedRng(1, "mask", 0, 7)
assert [r.next_u64() for _ in range(3)] == [4896090564614335870, 12272128958678847177, 16258599240749563629]
assert mix64(5, 0) == 13168350753275463132
assert mix64(2**64 - 1, 0) == 13029008266876403067
# Past one refill of blocks the stream continues (the counter is 64-bit, blocks in order).
long = KeyedRng(3, "shuffle", 2, 9)
values = [long.next_u64() for _ in range(2000)]
again = KeyedRng(3, "shuffle", 2, 9)
assert values == [again.next_u64() for _ in range(2000)]
assert len(set(values)) == 2000
print("ok")
