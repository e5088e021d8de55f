#!/usr/bin/env python3
"""Times the same attention specializations from several bundles (tuning
variants: tile sizes, warps), each bundle in its own runtime; a bundle
without the specialization of a case is skipped for it. For entmax, each
`--niter` count is timed with the relative difference of its output from the
largest count's (how many solver passes the inputs need, what each costs),
and with `--adasplash` AdaSplash's time on the same inputs (its defaults).

    python3 bench/bench_variants.py BUNDLE... [--cases "B,H,N,D,causal;..."]
        [--normalizer softmax|entmax] [--alpha A] [--niter 1,2,...] [--adasplash]
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
    parser.add_argument("--cases", default="1,32,16384,128,0;1,32,16384,128,1")
    parser.add_argument("--normalizer", default="softmax", choices=("softmax", "entmax"))
    parser.add_argument("--alpha", type=float, default=1.5)
    parser.add_argument("--niter", default="10",
                        help="entmax solver caps to time, comma-separated")
    parser.add_argument("--adasplash", action="store_true",
                        help="also time AdaSplash (entmax; importable `adasplash`)")
    args = parser.parse_args()
    niters = sorted(int(n) for n in args.niter.split(","))
    runtimes = []
    for path in args.bundles:
        runtime = sa_runtime.Runtime()
        runtime.load_bundle(path)
        runtimes.append((os.path.basename(path), runtime))
    stream = torch.cuda.current_stream().cuda_stream
    for case in args.cases.split(";"):
        batch, heads, length, dim, causal = (int(x) for x in case.split(","))
        torch.manual_seed(0)
        q, k, v = (torch.randn(batch, heads, length, dim, device="cuda", dtype=torch.bfloat16)
                   for _ in range(3))
        out = torch.empty_like(q)
        flops = 4.0 * batch * heads * length * length * dim / (2 if causal else 1)
        specialization = {"normalizer": args.normalizer, "dtype": "bf16", "head_dim": dim,
                          "value_dim": dim, "causal": bool(causal), "varlen": False,
                          "statistics": False, "mask": "none"}
        if args.normalizer == "entmax":
            specialization = {"normalizer": "entmax", "alpha": f"{args.alpha:g}",
                              **specialization}
        tensors = {"q": q, "k": k, "v": v, "out": out}
        if args.adasplash and args.normalizer == "entmax":
            import adasplash
            ms = triton.testing.do_bench(
                lambda: adasplash.adasplash(q, k, v, alpha=args.alpha, is_causal=bool(causal)),
                warmup=25, rep=100, return_mode="median")
            print(f"B={batch} H={heads} N={length} D={dim} causal={causal} adasplash: "
                  f"{ms:.3f} ms {flops / ms / 1e9:.1f} TFLOP/s", flush=True)
        for name, runtime in runtimes:
            try:
                kernel = runtime.find_kernel("attention", specialization)
            except sa_runtime.KernelNotFoundError:
                continue
            outputs = {}
            for niter in niters if args.normalizer == "entmax" else [None]:
                scalars = {"scale": 1 / math.sqrt(dim)}
                if niter is not None:
                    scalars["niter"] = niter
                ms = triton.testing.do_bench(lambda: kernel.launch(tensors, scalars, stream),
                                             warmup=25, rep=100, return_mode="median")
                label = "" if niter is None else f" niter={niter}"
                kernel.launch(tensors, scalars, stream)
                outputs[niter] = out.float().clone()
                print(f"B={batch} H={heads} N={length} D={dim} causal={causal} {name}: "
                      f"{kernel.name}{label} {ms:.3f} ms {flops / ms / 1e9:.1f} TFLOP/s",
                      flush=True)
            if len(outputs) > 1:
                final = outputs[niters[-1]]
                print("  relative difference from niter=" + str(niters[-1]) + ": " + " ".join(
                    f"{n}:{((o - final).norm() / final.norm()).item():.1e}"
                    for n, o in outputs.items()), flush=True)


if __name__ == "__main__":
    main()
