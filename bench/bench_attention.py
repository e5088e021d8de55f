#!/usr/bin/env python3
"""Forward attention throughput: sparse_attn kernels against their peers.

One process, one device, the same inputs for every contender:

- dense softmax, causal and not: ours against torch SDPA (flash and cuDNN
  backends) and FlexAttention (torch.compile'd, `--flex`);
- block-sparse softmax (`--sparse`): random 128 x 128 block masks at 5, 10,
  25 and 50 % density, one FlexAttention BlockMask handed to both ours and
  FlexAttention (full blocks, no mask_mod);
- entmax attention (`--entmax`), alpha 1.5 and 2, causal and not: ours
  against AdaSplash (`adasplash`, importable or on `--adasplash-path`) on
  random N(0, 1) inputs and structured ones (local window, attention sinks,
  clustered keys). Density is the fraction of 128 x 128 tiles holding an
  entry of the exact entmax support (thresholds from our kernels'
  statistics): the tiles an exact block mask visits.

Times are medians of triton.testing.do_bench. TFLOP/s are dense-equivalent
(4 B H Nq Nk D, halved for causal, over the time) and effective (the FLOPs of
the visited blocks only). The summary compares with the bar of issue 6:
dense >= 0.9x SDPA flash, block-sparse at 10 % <= 1.2x density x our dense
time. Writes bench/results/<date>-<device>.md.

    python3 bench/bench_attention.py [--shapes all|quick|bar|entmax] [--flex] [--sparse]
        [--entmax] [--adasplash-path DIR] [--output DIR]
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
    "bar": [(1, 32, 16384, 128)],
    "entmax": [(1, 16, 8192, 128)],
}
ENTMAX_INPUTS = ("random", "local", "sinks", "clustered")
DENSITIES = (0.05, 0.10, 0.25, 0.50)
BLOCK = 128


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


def compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention)


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
        from torch.nn.attention.flex_attention import create_block_mask
        compiled = compiled_flex()
        mask = None
        if causal:
            mask = create_block_mask(lambda b, h, i, j: j <= i, None, None, length, length)
        contenders["flex"] = lambda: compiled(q, k, v, block_mask=mask)
    for name, fn in contenders.items():
        ms = try_time(fn)
        rows.append(Row(shape, workload, 0.5 if causal else 1.0, name, ms, flops, flops))
        print("  " + " | ".join(rows[-1].cells()), flush=True)


def random_block_mask(batch, heads, length, density, generator):
    """A FlexAttention BlockMask of full 128 x 128 blocks: each query-block
    row keeps round(density * blocks) random key blocks (at least one)."""
    from torch.nn.attention.flex_attention import BlockMask
    blocks = length // BLOCK
    keep = max(1, round(density * blocks))
    scores = torch.rand(batch, heads, blocks, blocks, generator=generator, device="cuda")
    full_indices = scores.argsort(dim=-1)[..., :keep].sort(dim=-1).values
    indices = torch.zeros(batch, heads, blocks, blocks, dtype=torch.int32, device="cuda")
    indices[..., :keep] = full_indices.to(torch.int32)
    full_counts = torch.full((batch, heads, blocks), keep, dtype=torch.int32, device="cuda")
    counts = torch.zeros_like(full_counts)
    partial = torch.zeros_like(indices)
    mask = BlockMask.from_kv_blocks(counts, partial, full_counts, indices,
                                    BLOCK_SIZE=BLOCK)
    return mask, keep / blocks


def block_sparse(shape, flex, rows, dense_ms):
    batch, heads, length, dim = shape
    torch.manual_seed(1)
    generator = torch.Generator(device="cuda").manual_seed(1)
    q, k, v = (torch.randn(batch, heads, length, dim, device="cuda", dtype=torch.bfloat16)
               for _ in range(3))
    dense_eq = dense_flops(batch, heads, length, dim, False)
    compiled = compiled_flex() if flex else None
    for target in DENSITIES:
        mask, density = random_block_mask(batch, heads, length, target, generator)
        contenders = {"sparse_attn": lambda: sparse_attn.attention(q, k, v, block_mask=mask)}
        if compiled is not None:
            contenders["flex"] = lambda: compiled(q, k, v, block_mask=mask)
        for name, fn in contenders.items():
            ms = try_time(fn)
            rows.append(Row(shape, "block-sparse", density, name, ms, dense_eq,
                            density * dense_eq))
            extra = ""
            if name == "sparse_attn" and dense_ms:
                extra = f" | {ms / (density * dense_ms):.2f}x density x dense"
            print("  " + " | ".join(rows[-1].cells()) + extra, flush=True)


def entmax_inputs(kind, shape, generator):
    """q, k, v in bf16, [B, H, N, D]: N(0, 1), or with structure that makes
    entmax sparse in blocks."""
    batch, heads, length, dim = shape

    def randn(*size):
        return torch.randn(*size, device="cuda", generator=generator)

    q, k, v = (randn(batch, heads, length, dim) for _ in range(3))
    if kind == "local":
        # Keys correlated over a 256-token window; each query near its key.
        window = 256
        sums = randn(batch, heads, length + window, dim).cumsum(dim=2)
        k = (sums[:, :, window:] - sums[:, :, :-window]) / math.sqrt(window)
        q = k + 0.5 * randn(batch, heads, length, dim)
    elif kind == "sinks":
        # Random scores plus the first 64 keys aligned with every query.
        direction = randn(1, heads, 1, dim)
        direction = direction / direction.norm(dim=-1, keepdim=True)
        q = q + 2.0 * direction
        k[:, :, :64] += 2.0 * direction
    elif kind == "clustered":
        # Keys in 16 contiguous clusters (documents); each 128-query block
        # belongs to one random cluster.
        clusters = 16
        centers = 2.0 * randn(batch, heads, clusters, dim)
        key_cluster = torch.arange(length, device="cuda") * clusters // length
        k = centers[:, :, key_cluster] + randn(batch, heads, length, dim)
        block_cluster = torch.randint(0, clusters, (length // BLOCK,), device="cuda",
                                      generator=generator)
        q = centers[:, :, block_cluster.repeat_interleave(BLOCK)] + randn(
            batch, heads, length, dim)
    return tuple(t.to(torch.bfloat16).contiguous() for t in (q, k, v))


def entmax_tile_density(q, k, tau, alpha, causal):
    """Fraction of the 128 x 128 tiles (of the causally visible ones) with
    some x_ij = (alpha - 1) s_ij above its row's threshold."""
    batch, heads, length, dim = q.shape
    scale = (alpha - 1) / math.sqrt(dim)
    blocks = length // BLOCK
    live = visible = 0
    for b in range(batch):
        for h in range(heads):
            for start in range(0, length, 2048):
                rows = slice(start, start + 2048)
                x = scale * (q[b, h, rows].float() @ k[b, h].float().T)
                above = x > tau[b, h, rows, None]
                if causal:
                    i = torch.arange(start, start + x.shape[0], device="cuda")[:, None]
                    above &= torch.arange(length, device="cuda")[None, :] <= i
                tiles = above.view(-1, BLOCK, blocks, BLOCK).any(dim=3).any(dim=1)
                live += int(tiles.sum())
                first = start // BLOCK
                query_blocks = torch.arange(first, first + tiles.shape[0], device="cuda")
                if causal:
                    visible += int((torch.arange(blocks, device="cuda")[None, :]
                                    <= query_blocks[:, None]).sum())
                else:
                    visible += tiles.numel()
    return live / visible


def entmax_attention(shape, rows, adasplash):
    batch, heads, length, dim = shape
    generator = torch.Generator(device="cuda").manual_seed(2)
    full = torch.full((batch,), length, dtype=torch.int32, device="cuda")
    for kind in ENTMAX_INPUTS:
        q, k, v = entmax_inputs(kind, shape, generator)
        for alpha in (1.5, 2.0):
            for causal in (False, True):
                flops = dense_flops(batch, heads, length, dim, causal)
                # Thresholds from the statistics kernel (varlen with full
                # lengths) for the density.
                _, tau = sparse_attn.attention(
                    q, k, v, normalizer="entmax", alpha=alpha, causal=causal,
                    query_lengths=full, key_lengths=full, return_stats=True)
                density = entmax_tile_density(q, k, tau, alpha, causal)
                workload = f"entmax {alpha} {kind}" + (" causal" if causal else "")
                contenders = {"sparse_attn": lambda: sparse_attn.attention(
                    q, k, v, normalizer="entmax", alpha=alpha, causal=causal)}
                if adasplash is not None:
                    contenders["adasplash"] = lambda: adasplash.adasplash(
                        q, k, v, alpha=alpha, is_causal=causal)
                times = {}
                for name, fn in contenders.items():
                    times[name] = try_time(fn)
                    rows.append(Row(shape, workload, density, name, times[name], flops,
                                    density * flops))
                    print("  " + " | ".join(rows[-1].cells()), flush=True)
                if adasplash is not None:
                    reference = adasplash.adasplash(q, k, v, alpha=alpha, is_causal=causal)
                    ours = contenders["sparse_attn"]()
                    difference = ((ours.float() - reference.float()).norm()
                                  / reference.float().norm()).item()
                    print(f"    {workload}: speedup over AdaSplash "
                          f"{times['adasplash'] / times['sparse_attn']:.2f}x, "
                          f"relative difference of the outputs {difference:.2e}", flush=True)


def import_adasplash(path):
    if path:
        sys.path.insert(0, path)
    try:
        import adasplash
        return adasplash
    except ImportError as error:
        print(f"AdaSplash not available ({error}): ours only", flush=True)
        return None


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
    parser.add_argument("--sparse", action="store_true", help="block-sparse workloads")
    parser.add_argument("--entmax", action="store_true",
                        help="entmax attention against AdaSplash (only these workloads)")
    parser.add_argument("--adasplash-path", default="",
                        help="a directory holding the adasplash package")
    parser.add_argument("--output", default="", help="results directory")
    args = parser.parse_args()
    rows = []
    if args.entmax:
        adasplash = import_adasplash(args.adasplash_path)
        for shape in SHAPES[args.shapes]:
            entmax_attention(shape, rows, adasplash)
        print("| " + " | ".join(HEADER) + " |")
        for row in rows:
            print("| " + " | ".join(row.cells()) + " |")
        write_results(rows, args)
        return
    for shape in SHAPES[args.shapes]:
        for causal in (False, True):
            dense(shape, causal, args.flex, rows)
        if args.sparse:
            ours = [r.ms for r in rows if r.shape == shape and r.workload == "softmax"
                    and r.contender == "sparse_attn"]
            block_sparse(shape, args.flex, rows, ours[0] if ours else None)
    print("| " + " | ".join(HEADER) + " |")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    summarize(rows)
    write_results(rows, args)


def summarize(rows):
    """The issue's bar, per shape, from this run's medians."""
    def time_of(shape, workload, contender, density=None):
        for row in rows:
            if (row.shape == shape and row.workload == workload and row.contender == contender
                    and (density is None or abs(row.density - density) < 0.02)):
                return row.ms
        return math.nan
    for shape in dict.fromkeys(row.shape for row in rows):
        for workload in ("softmax", "softmax causal"):
            ours = time_of(shape, workload, "sparse_attn")
            flash = time_of(shape, workload, "sdpa flash")
            print(f"bar {shape} {workload}: {flash / ours:.3f}x SDPA flash throughput "
                  f"(>= 0.9 wanted)")
        sparse = time_of(shape, "block-sparse", "sparse_attn", 0.10)
        dense_time = time_of(shape, "softmax", "sparse_attn")
        density = [r.density for r in rows if r.shape == shape and r.workload == "block-sparse"
                   and abs(r.density - 0.10) < 0.02]
        if density:
            print(f"bar {shape} block-sparse {density[0]:.3f}: "
                  f"{sparse / (density[0] * dense_time):.2f}x density x dense (<= 1.2 wanted)")


if __name__ == "__main__":
    main()
