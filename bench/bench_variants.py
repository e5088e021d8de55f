#!/usr/bin/env python3
"""Times the same attention specialization from several bundles (tuning
variants: tile sizes, warps) on one shape, each bundle in its own runtime.

    python3 bench/bench_variants.py BUNDLE... [--shape B,H,N,D] [--causal]
"""

import argparse
import math
import os
import sys

import torch
import triton.testing

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SPARSE_ATTN_PYTHON", os.path.join(HERE, "..", "python")))

from sparse_attn import runtime as sa_runtime  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--shape", default="1,32,16384,128")
    parser.add_argument("--causal", action="store_true")
    args = parser.parse_args()
    batch, heads, length, dim = (int(x) for x in args.shape.split(","))
    torch.manual_seed(0)
    q, k, v = (torch.randn(batch, heads, length, dim, device="cuda", dtype=torch.bfloat16)
               for _ in range(3))
    out = torch.empty_like(q)
    flops = 4.0 * batch * heads * length * length * dim / (2 if args.causal else 1)
    specialization = {"normalizer": "softmax", "dtype": "bf16", "head_dim": dim,
                      "value_dim": dim, "causal": args.causal, "varlen": False,
                      "statistics": False, "mask": "none"}
    stream = torch.cuda.current_stream().cuda_stream
    for path in args.bundles:
        runtime = sa_runtime.Runtime()
        runtime.load_bundle(path)
        kernel = runtime.find_kernel("attention", specialization)
        tensors = {"q": q, "k": k, "v": v, "out": out}
        scalars = {"scale": 1 / math.sqrt(dim)}
        ms = triton.testing.do_bench(lambda: kernel.launch(tensors, scalars, stream),
                                     warmup=25, rep=100, return_mode="median")
        print(f"{os.path.basename(path)}: {kernel.name} {ms:.3f} ms "
              f"{flops / ms / 1e9:.1f} TFLOP/s", flush=True)


if __name__ == "__main__":
    main()
