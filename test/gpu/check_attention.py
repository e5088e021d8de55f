#!/usr/bin/env python3
"""Attention kernels of the built bundles against a float64 PyTorch reference.

Runs on the GPU machine (no MLIR there): the bundles come from the build
(`ninja sparse-attn-bundles`), the runtime library from the build or
$SPARSE_ATTN_RUNTIME_LIBRARY. Every case draws fresh random inputs, poisons
the outputs with NaN, launches the kernel through the runtime and compares
with docs/design/semantics.md evaluated in float64 on the device:

    python3 test/gpu/check_attention.py [--cases N] [--seed S] [--quick]

prints one line per failure and the pass/fail counts last; exits 1 on any
failure. `--quick` runs a small representative set (for compute-sanitizer).
"""

import argparse
import math
import os
import random
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SPARSE_ATTN_PYTHON", os.path.join(HERE, "..", "..", "python")))

import sparse_attn  # noqa: E402
from sparse_attn import runtime as sa_runtime  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}
# ||out - ref|| / ||ref|| bounds: the weights P are rounded to the input
# type before P @ V, so the error is that type's rounding (ALGORITHMS.md 9).
TOLERANCE = {"bf16": 1.2e-2, "f16": 2e-3}
LSE_TOLERANCE = 2e-3


def reference(q, k, v, *, causal, scale, query_lengths, key_lengths):
    """Output and log-sum-exp of softmax attention in float64."""
    batch, heads, nq, _ = q.shape
    kv_heads, nk = k.shape[1], k.shape[2]
    group = heads // kv_heads
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    scores = torch.einsum("bhid,bhjd->bhij", q, k) * scale
    i = torch.arange(nq, device=q.device)[:, None]
    j = torch.arange(nk, device=q.device)[None, :]
    lq = query_lengths.to(torch.int64).clamp(0, nq)[:, None, None, None]
    lk = key_lengths.to(torch.int64).clamp(0, nk)[:, None, None, None]
    visible = (i < lq) & (j < lk)
    if causal:
        visible &= j <= i + (lk - lq)
    scores = scores.masked_fill(~visible, -math.inf)
    row_max = scores.amax(dim=-1, keepdim=True)
    empty = row_max == -math.inf
    weights = torch.exp(scores - torch.where(empty, 0.0, row_max))
    total = weights.sum(dim=-1, keepdim=True)
    out = (weights @ v) / torch.where(total > 0, total, 1.0)
    out = torch.where(empty, 0.0, out)
    lse = torch.where(total > 0, row_max + torch.log(total), -math.inf).squeeze(-1)
    return out, lse


def relative_error(actual, expected):
    difference = (actual.to(torch.float64) - expected).norm()
    scale = expected.norm()
    return (difference / scale).item() if scale > 0 else difference.item()


class Case:
    def __init__(self, rng, **fixed):
        self.dtype = fixed.get("dtype", rng.choice(list(DTYPES)))
        self.head_dim = fixed.get("head_dim", rng.choice([64, 128]))
        self.causal = fixed.get("causal", rng.random() < 0.5)
        self.varlen = fixed.get("varlen", rng.random() < 0.3)
        self.statistics = fixed.get("statistics", rng.random() < 0.3)
        self.batch = fixed.get("batch", rng.randint(1, 3))
        self.kv_heads = fixed.get("kv_heads", rng.randint(1, 3))
        self.group = fixed.get("group", rng.choice([1, 1, 2, 4]))
        self.query_len = fixed.get("query_len", rng.choice(
            [1, 17, 64, 127, 128, 129, 200, 255, 256, 300, 513, 700]))
        self.key_len = fixed.get("key_len", self.query_len if rng.random() < 0.5 else rng.choice(
            [1, 33, 64, 100, 128, 191, 256, 257, 380, 640, 1000]))
        self.layout = fixed.get("layout", rng.choice(["bhnd", "bnhd"]))

    def specialization(self):
        return {
            "normalizer": "softmax", "dtype": self.dtype, "head_dim": self.head_dim,
            "value_dim": self.head_dim, "causal": self.causal, "varlen": self.varlen,
            "statistics": self.statistics, "mask": "none",
        }

    def __str__(self):
        return (f"softmax {self.dtype} D={self.head_dim} causal={self.causal} "
                f"varlen={self.varlen} stats={self.statistics} B={self.batch} "
                f"H={self.kv_heads * self.group}/{self.kv_heads} Nq={self.query_len} "
                f"Nk={self.key_len} {self.layout}")


def make(shape, dtype, layout):
    """A random tensor of logical shape [B, H, N, D] stored in `layout`."""
    batch, heads, length, dim = shape
    if layout == "bhnd":
        return torch.randn(shape, device="cuda", dtype=dtype)
    return torch.randn((batch, length, heads, dim), device="cuda", dtype=dtype).transpose(1, 2)


def run_case(runtime, case, generator_seed):
    torch.manual_seed(generator_seed)
    dtype = DTYPES[case.dtype]
    heads = case.kv_heads * case.group
    q = make((case.batch, heads, case.query_len, case.head_dim), dtype, case.layout)
    k = make((case.batch, case.kv_heads, case.key_len, case.head_dim), dtype, case.layout)
    v = make((case.batch, case.kv_heads, case.key_len, case.head_dim), dtype, case.layout)
    out = torch.full((case.batch, heads, case.query_len, case.head_dim), math.nan,
                     device="cuda", dtype=dtype)
    stats = torch.full((case.batch, heads, case.query_len), math.nan, device="cuda",
                       dtype=torch.float32)
    scale = 1.0 / math.sqrt(case.head_dim) * (0.5 + torch.rand(()).item())
    if case.varlen:
        query_lengths = torch.randint(0, case.query_len + 1, (case.batch,), device="cuda",
                                      dtype=torch.int32)
        key_lengths = torch.randint(0, case.key_len + 1, (case.batch,), device="cuda",
                                    dtype=torch.int32)
    else:
        query_lengths = torch.full((case.batch,), case.query_len, device="cuda", dtype=torch.int32)
        key_lengths = torch.full((case.batch,), case.key_len, device="cuda", dtype=torch.int32)

    kernel = runtime.find_kernel("attention", case.specialization())
    tensors = {"q": q, "k": k, "v": v, "out": out}
    if case.statistics:
        tensors["stats"] = stats
    if case.varlen:
        tensors["query_lengths"] = query_lengths
        tensors["key_lengths"] = key_lengths
    kernel.launch(tensors, {"scale": scale}, torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()

    expected, expected_lse = reference(q, k, v, causal=case.causal, scale=scale,
                                       query_lengths=query_lengths, key_lengths=key_lengths)
    problems = []
    if torch.isnan(out).any():
        problems.append(f"{int(torch.isnan(out).sum())} output elements unwritten or NaN")
    error = relative_error(out, expected)
    if not error <= TOLERANCE[case.dtype]:
        problems.append(f"relative error {error:.3e} > {TOLERANCE[case.dtype]:.1e}")
    lse_error = 0.0
    if case.statistics:
        finite = torch.isfinite(expected_lse)
        if torch.isnan(stats).any():
            problems.append(f"{int(torch.isnan(stats).sum())} statistics unwritten or NaN")
        elif not torch.equal(torch.isfinite(stats), finite) or not torch.all(
                stats[~finite] == expected_lse[~finite].to(torch.float32)):
            problems.append("statistics of empty rows are not -inf")
        elif finite.any():
            lse_error = (stats[finite].to(torch.float64) - expected_lse[finite]).abs().max().item()
            if not lse_error <= LSE_TOLERANCE:
                problems.append(f"log-sum-exp error {lse_error:.3e} > {LSE_TOLERANCE:.1e}")
    return error, lse_error, problems


def functional_case(case, seed):
    """The same computation through sparse_attn.attention (torch.library op)."""
    torch.manual_seed(seed)
    dtype = DTYPES[case.dtype]
    heads = case.kv_heads * case.group
    q = torch.randn((case.batch, heads, case.query_len, case.head_dim), device="cuda", dtype=dtype)
    k = torch.randn((case.batch, case.kv_heads, case.key_len, case.head_dim), device="cuda",
                    dtype=dtype)
    v = torch.randn_like(k)
    out = sparse_attn.attention(q, k, v, causal=case.causal)
    lengths = torch.tensor([case.query_len] * case.batch, device="cuda")
    expected, _ = reference(q, k, v, causal=case.causal, scale=1 / math.sqrt(case.head_dim),
                            query_lengths=lengths,
                            key_lengths=torch.tensor([case.key_len] * case.batch, device="cuda"))
    error = relative_error(out, expected)
    return error, [] if error <= TOLERANCE[case.dtype] else [f"relative error {error:.3e}"]


def cases(args):
    rng = random.Random(args.seed)
    if args.quick:
        return [
            Case(rng, dtype="bf16", head_dim=128, causal=True, varlen=False, statistics=True,
                 batch=1, kv_heads=2, group=2, query_len=200, key_len=333, layout="bnhd"),
            Case(rng, dtype="f16", head_dim=64, causal=False, varlen=True, statistics=False,
                 batch=2, kv_heads=1, group=4, query_len=129, key_len=77, layout="bhnd"),
            Case(rng, dtype="bf16", head_dim=64, causal=True, varlen=True, statistics=True,
                 batch=2, kv_heads=2, group=1, query_len=300, key_len=130, layout="bhnd"),
            Case(rng, dtype="f16", head_dim=128, causal=False, varlen=False, statistics=False,
                 batch=1, kv_heads=1, group=1, query_len=1, key_len=1, layout="bhnd"),
        ]
    fixed = [
        # Every specialization at least once, then random shapes.
        Case(rng, dtype=dtype, head_dim=dim, causal=causal, varlen=varlen, statistics=stats)
        for dtype in DTYPES for dim in (64, 128) for causal in (False, True)
        for varlen in (False, True) for stats in (False, True)
    ]
    fixed += [
        Case(rng, causal=True, query_len=300, key_len=100),   # Nq > Nk: empty rows
        Case(rng, causal=True, query_len=100, key_len=1000),  # Nq < Nk
        Case(rng, query_len=1, key_len=1),
        Case(rng, batch=2, kv_heads=2, group=4, query_len=1024, key_len=1024, causal=True),
    ]
    return fixed + [Case(rng) for _ in range(args.cases)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="random cases after the fixed ones")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--quick", action="store_true", help="a small representative set")
    args = parser.parse_args()

    runtime = sa_runtime.default_runtime()
    passed = failed = 0
    worst = {}
    for index, case in enumerate(cases(args)):
        seed = args.seed * 1000 + index
        try:
            error, lse_error, problems = run_case(runtime, case, seed)
        except sa_runtime.SparseAttnError as exception:
            error, lse_error, problems = math.nan, 0.0, [f"{type(exception).__name__}: {exception}"]
        key = case.dtype
        worst[key] = max(worst.get(key, 0.0), error if error == error else math.inf)
        if problems:
            failed += 1
            print(f"FAIL {case}: {'; '.join(problems)}", flush=True)
        else:
            passed += 1
    if not args.quick:
        for case in (Case(random.Random(1), dtype="bf16", causal=True, layout="bhnd"),
                     Case(random.Random(2), dtype="f16", causal=False, layout="bhnd")):
            case.varlen = case.statistics = False
            error, problems = functional_case(case, 7)
            if problems:
                failed += 1
                print(f"FAIL sparse_attn.attention {case}: {'; '.join(problems)}", flush=True)
            else:
                passed += 1
    summary = ", ".join(f"{k} worst relative error {v:.2e}" for k, v in sorted(worst.items()))
    print(f"attention: {passed} passed, {failed} failed ({summary})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
