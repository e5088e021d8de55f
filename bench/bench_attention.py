#!/usr/bin/env python3
"""Forward attention throughput: sparse_attn kernels against their peers.

One process, one device, the same inputs for every contender: dense softmax,
causal and not, ours against torch SDPA (flash and cuDNN backends) and
FlexAttention (torch.compile'd, `--flex`).

Times are medians of triton.testing.do_bench. TFLOP/s are dense-equivalent
(4 B H Nq Nk D, halved for causal, over the time) and effective (the FLOPs of
the visited blocks only). Writes bench/results/<date>-<device>.md.

    python3 bench/bench_attention.py [--shapes all|quick] [--flex] [--output DIR]
"""

import argparse
import datetime
import math
import os
import sys

import torch
import triton.testing
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SPARSE_ATTN_PYTHON", os.path.join(HERE, "..", "python")))

import sparse_attn  # noqa: E402

SHAPES = {
    "all": [(1, 32, 4096, 128), (1, 32, 16384, 128), (1, 32, 32768, 128), (4, 16, 8192, 64)],
    "quick": [(1, 32, 4096, 128), (1, 32, 16384, 128)],
}


def median_ms(fn):
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def dense_flops(batch, heads, length, dim, causal):
    flops = 4.0 * batch * heads * length * length * dim
    return flops / 2 if causal else flops


class Row:
    def __init__(self, shape, workload, density, contender, ms, flops, effective_flops):
        self.shape, self.workload, self.density = shape, workload, density
        self.contender, self.ms = contender, ms
        self.tflops = flops / ms / 1e9 if ms == ms else math.nan
        self.effective = effective_flops / ms / 1e9 if ms == ms else math.nan

    def cells(self):
        b, h, n, d = self.shape
        return [f"B={b} H={h} N={n} D={d}", self.workload, f"{self.density:.3f}", self.contender,
                f"{self.ms:.3f}", f"{self.tflops:.1f}", f"{self.effective:.1f}"]


HEADER = ["shape", "workload", "density", "contender", "ms", "TFLOP/s (dense eq.)",
          "TFLOP/s (effective)"]


def try_time(fn):
    try:
        fn()
        torch.cuda.synchronize()
        return median_ms(fn)
    except Exception as exception:  # a contender missing here is reported, not fatal
        print(f"    skipped: {type(exception).__name__}: {str(exception).splitlines()[0]}",
              flush=True)
        return math.nan


def dense(shape, causal, flex, rows):
    batch, heads, length, dim = shape
    torch.manual_seed(0)
    q, k, v = (torch.randn(batch, heads, length, dim, device="cuda", dtype=torch.bfloat16)
               for _ in range(3))
    flops = dense_flops(batch, heads, length, dim, causal)
    workload = "softmax causal" if causal else "softmax"
    contenders = {
        "sparse_attn": lambda: sparse_attn.attention(q, k, v, causal=causal),
    }

    def sdpa(backend):
        def run():
            with sdpa_kernel(backend):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return run

    contenders["sdpa flash"] = sdpa(SDPBackend.FLASH_ATTENTION)
    contenders["sdpa cudnn"] = sdpa(SDPBackend.CUDNN_ATTENTION)
    if flex:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        compiled = torch.compile(flex_attention)
        mask = None
        if causal:
            mask = create_block_mask(lambda b, h, i, j: j <= i, None, None, length, length)
        contenders["flex"] = lambda: compiled(q, k, v, block_mask=mask)
    for name, fn in contenders.items():
        ms = try_time(fn)
        rows.append(Row(shape, workload, 0.5 if causal else 1.0, name, ms, flops, flops))
        print("  " + " | ".join(rows[-1].cells()), flush=True)


def write_results(rows, args):
    device = torch.cuda.get_device_name().replace(" ", "-")
    date = datetime.date.today().isoformat()
    directory = os.path.join(HERE, "results")
    if args.output:
        directory = args.output
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{date}-{device}.md")
    with open(path, "w") as file:
        file.write(f"# Attention forward, {date}, {torch.cuda.get_device_name()}\n\n")
        file.write(f"torch {torch.__version__}, `python3 bench/bench_attention.py "
                   f"{' '.join(sys.argv[1:])}`; medians of triton.testing.do_bench; bf16.\n\n")
        file.write("| " + " | ".join(HEADER) + " |\n")
        file.write("|" + "---|" * len(HEADER) + "\n")
        for row in rows:
            file.write("| " + " | ".join(row.cells()) + " |\n")
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", choices=sorted(SHAPES), default="all")
    parser.add_argument("--flex", action="store_true", help="include FlexAttention (compiles)")
    parser.add_argument("--output", default="", help="results directory")
    args = parser.parse_args()
    rows = []
    for shape in SHAPES[args.shapes]:
        for causal in (False, True):
            dense(shape, causal, args.flex, rows)
    print("| " + " | ".join(HEADER) + " |")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    write_results(rows, args)


if __name__ == "__main__":
    main()
