"""Checkers of the GPU test driver (run.py): one per op a bundle kernel can
implement, plus the runtime's behaviour on a real device.

Every case draws fresh random inputs, poisons its outputs (NaN, or a
sentinel for integers), launches on the current stream, synchronises (which
surfaces any CUDA error of the launch) and compares with a float64
reference: relative error ||out - ref|| / ||ref|| under the dtype's
tolerance, no poison left, no NaN anywhere.
"""

import contextlib
import json
import math
import os
import shutil
import tempfile
import threading
import traceback

import torch

import reference
import sparse_attn
from sparse_attn import KernelNotFoundError, TensorView, ValidationError, ops
from sparse_attn_arguments import OPTIONAL_TENSORS  # test/lib, on the path through reference

# ||out - ref|| / ||ref|| allowed per element type (METHOD.md's ranges:
# 16-bit operands 1e-3 .. 1e-2). f32 inputs run on tf32 tensor cores: Q, K,
# V and P rounded to 10 mantissa bits (cvt.rna) as f16 keeps them, so f16's
# errors (near 3e-4 measured), with f32 accumulation and output.
TOLERANCE = {"f32": 2e-3, "f16": 1e-2, "bf16": 1e-2}
# f32 kernels with the 3xTF32 split (`precision=3xtf32`): f32 arithmetic, an
# order of magnitude below tf32's errors.
EXACT_F32_TOLERANCE = 2e-5
TORCH_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


class Skip(Exception):
    """A case that cannot run here (reported, not counted as a failure)."""


class Group:
    def __init__(self, results, name):
        self.results = results
        self.name = name

    @contextlib.contextmanager
    def case(self, name):
        try:
            yield
            torch.cuda.synchronize()  # any error of the launches surfaces here
        except Skip as reason:
            self.results.record(self.name, "skipped", f"{name}: {reason}")
        except Exception as error:  # a failing case must not stop the others
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.results.record(self.name, "failed", f"{name}: {detail}")
        else:
            self.results.record(self.name, "passed", name)


class Results:
    def __init__(self):
        self.counts = {}  # group -> {"passed": n, "failed": n, "skipped": n}

    def group(self, name):
        self.counts.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0})
        return Group(self, name)

    def skip(self, group, reason):
        self.group(group)
        self.record(group, "skipped", reason)

    def record(self, group, outcome, detail):
        self.counts[group][outcome] += 1
        if outcome != "passed":
            print(f"  {outcome.upper()} {group}: {detail}", flush=True)

    def report(self):
        """Prints the table; True when something failed."""
        width = max(len(name) for name in self.counts)
        print(f"\n{'kernel / check'.ljust(width)}  passed  failed  skipped")
        totals = {"passed": 0, "failed": 0, "skipped": 0}
        for name, counts in self.counts.items():
            print(
                f"{name.ljust(width)}  {counts['passed']:6d}  {counts['failed']:6d}  "
                f"{counts['skipped']:7d}"
            )
            for outcome in totals:
                totals[outcome] += counts[outcome]
        print(
            f"{'TOTAL'.ljust(width)}  {totals['passed']:6d}  {totals['failed']:6d}  "
            f"{totals['skipped']:7d}"
        )
        return totals["failed"] > 0


def stream():
    return torch.cuda.current_stream().cuda_stream


def poisoned(shape, dtype=torch.float32):
    if dtype.is_floating_point:
        return torch.full(shape, float("nan"), dtype=dtype, device="cuda")
    return torch.full(shape, -123456, dtype=dtype, device="cuda")


# The largest relative error seen per (check, dtype), for the summary.
WORST_ERRORS = {}


def rounded_to_tf32(tensor):
    """f32 values rounded to tf32 as cvt.rna does (10 mantissa bits, ties
    away from zero): add half an ulp to the magnitude bits, drop 13 bits."""
    bits = tensor.contiguous().view(torch.int32)
    return ((bits + 0x1000) & ~0x1FFF).view(torch.float32)


def expect_close(name, actual, expected, tolerance, record=None):
    """Relative error of `actual` against float64 `expected`; infinities must
    match exactly, NaN never passes. `record` keys WORST_ERRORS."""
    actual = actual.double()
    if torch.isnan(actual).any():
        raise AssertionError(
            f"{name}: {int(torch.isnan(actual).sum())} elements are NaN " "(unwritten or invalid)"
        )
    infinite = torch.isinf(expected)
    if not torch.equal(torch.isinf(actual), infinite) or not torch.equal(
        actual[infinite], expected[infinite]
    ):
        raise AssertionError(f"{name}: infinities differ from the reference")
    finite_actual, finite_expected = actual[~infinite], expected[~infinite]
    scale = torch.linalg.vector_norm(finite_expected).item()
    error = torch.linalg.vector_norm(finite_actual - finite_expected).item()
    relative = error / scale if scale > 0 else error
    if record is not None:
        WORST_ERRORS[record] = max(WORST_ERRORS.get(record, 0.0), relative)
    if not relative <= tolerance:
        raise AssertionError(f"{name}: relative error {relative:.3e} > {tolerance:.0e}")


def expect_error(error_type, fragments, function):
    """`function` must raise `error_type` with one of `fragments` (a string
    or a tuple of alternatives) in its message."""
    fragments = (fragments,) if isinstance(fragments, str) else fragments
    try:
        function()
    except error_type as error:
        if not any(fragment in str(error) for fragment in fragments):
            raise AssertionError(
                f"expected an error saying {' or '.join(fragments)!r}, got: {error}"
            )
        return
    raise AssertionError(
        f"expected {error_type.__name__} saying {fragments[0]!r}, but it succeeded"
    )


# --- test.scaled_add: z = a * x + y on strided 2-D f32 tensors ------------

SCALED_ADD_SHAPES = [(1, 1), (16, 16), (33, 70), (300, 17), (1000, 1000)]


def scaled_add_case(kernel, rows, cols, layout):
    """Launches one case; returns (z's whole buffer, the view z, x, y, a)."""
    x = torch.randn(rows, cols, device="cuda")
    if layout == "mixed":
        y = torch.randn(cols, rows, device="cuda").t()  # column-major
        buffer = poisoned((rows, 2 * cols))
        z = buffer[:, ::2]  # every other column: strides (2 cols, 2)
    elif layout == "broadcast":
        y = torch.randn(1, cols, device="cuda").expand(rows, cols)  # stride 0
        buffer = poisoned((rows, cols))
        z = buffer
    else:
        y = torch.randn(rows, cols, device="cuda")
        buffer = poisoned((rows, cols))
        z = buffer
    a = torch.randn(()).item()
    kernel.launch({"x": x, "y": y, "z": z}, {"a": a}, stream())
    return buffer, z, x, y, a


def check_scaled_add(kernel, group):
    for rows, cols in SCALED_ADD_SHAPES:
        for layout in ("row-major", "mixed", "broadcast"):
            with group.case(f"{rows}x{cols} {layout}"):
                buffer, z, x, y, a = scaled_add_case(kernel, rows, cols, layout)
                torch.cuda.synchronize()
                expect_close("z", z, a * x.double() + y.double(), 1e-6)
                if layout == "mixed" and not torch.isnan(buffer[:, 1::2]).all():
                    raise AssertionError("the kernel wrote between z's columns")
    with group.case("empty tensors launch nothing"):
        empty = torch.empty(0, 5, device="cuda")
        kernel.launch(
            {"x": empty, "y": empty, "z": torch.empty(0, 5, device="cuda")}, {"a": 1.0}, stream()
        )
    with group.case("dtype mismatch is refused"):
        x = torch.randn(4, 4, device="cuda")
        expect_error(
            ValidationError,
            "tensor 'y' has dtype f16, but the kernel needs f32",
            lambda: kernel.launch(
                {"x": x, "y": x.half(), "z": torch.empty_like(x)}, {"a": 1.0}, stream()
            ),
        )


# --- test.tile_copy: out = source through a TMA tensor map ----------------

TILE_COPY_SHAPES = [(16, 32), (1, 1), (17, 33), (100, 96), (257, 500), (1024, 4096)]


def padded_source(rows, cols, extra=4):
    """A [rows, cols] view with rows padded to a multiple of 16 bytes."""
    width = -(-cols // 4) * 4 + extra
    return torch.randn(rows, width, device="cuda")[:, :cols]


def check_tile_copy(kernel, group):
    for rows, cols in TILE_COPY_SHAPES:
        for layout in ("row-major", "column-major"):
            with group.case(f"{rows}x{cols} into {layout}"):
                source = padded_source(rows, cols)
                out = (
                    poisoned((rows, cols)) if layout == "row-major" else poisoned((cols, rows)).t()
                )
                kernel.launch({"source": source, "out": out}, None, stream())
                torch.cuda.synchronize()
                if not torch.equal(out, source):
                    wrong = int((out != source).sum())
                    raise AssertionError(f"{wrong} of {out.numel()} elements differ")
    with group.case("row stride not a multiple of 16 bytes is refused"):
        source = torch.randn(8, 37, device="cuda")[:, :33]
        expect_error(
            ValidationError,
            "tensor maps need multiples of 16 bytes",
            lambda: kernel.launch(
                {"source": source, "out": torch.empty(8, 33, device="cuda")}, None, stream()
            ),
        )
    with group.case("misaligned source is refused"):
        source = torch.randn(8, 40, device="cuda")[:, 1:33]
        expect_error(
            ValidationError,
            "is not aligned to 16 bytes",
            lambda: kernel.launch(
                {"source": source, "out": torch.empty(8, 32, device="cuda")}, None, stream()
            ),
        )


# --- attention ------------------------------------------------------------

# (B, H, Hkv, Nq, Nk): single element, square, GQA with ragged tiles, fewer
# queries than keys, more queries than keys (causal: leading rows empty).
ATTENTION_SHAPES = [
    (1, 1, 1, 1, 1),
    (2, 4, 4, 128, 128),
    (2, 8, 2, 300, 300),
    (1, 4, 1, 77, 211),
    (1, 2, 2, 256, 64),
    # Tails of 128-row query and 64-key tiles, Nq > Nk and Nq < Nk (causal
    # rows with no key; long diagonal offsets), grouped heads.
    (2, 8, 2, 513, 1000),
    (1, 4, 4, 700, 129),
]


def random_block_mask(batch, heads, query_len, key_len, block_q, block_k, full_blocks):
    """FlexAttention-style index tensors with random rows (partial and,
    optionally, disjoint full blocks), ascending, padded with zeros; the
    batch extent is 1 (broadcast) to cover that case too."""
    query_blocks, key_blocks = -(-query_len // block_q), -(-key_len // block_k)
    shape = (1, heads, query_blocks)
    counts = torch.zeros(shape, dtype=torch.int32)
    indices = torch.zeros(*shape, key_blocks, dtype=torch.int32)
    full_counts, full_indices = torch.zeros_like(counts), torch.zeros_like(indices)
    for h in range(heads):
        for row in range(query_blocks):
            order = torch.randperm(key_blocks)
            chosen = order[: torch.randint(0, key_blocks + 1, ()).item()]
            if full_blocks:
                split = torch.randint(0, len(chosen) + 1, ()).item()
                full, chosen = chosen[:split].sort().values, chosen[split:]
                full_counts[0, h, row] = len(full)
                full_indices[0, h, row, : len(full)] = full
            chosen = chosen.sort().values
            counts[0, h, row] = len(chosen)
            indices[0, h, row, : len(chosen)] = chosen
    tensors = [counts.cuda(), indices.cuda()]
    tensors += [full_counts.cuda(), full_indices.cuda()] if full_blocks else [None, None]
    return tensors


# Entmax with local structure (each query close to the keys near its own
# position): sparse supports, so the block mask skips most key tiles.
LOCAL_SHAPES = [(2, 4, 4, 128, 128), (2, 8, 2, 513, 1000), (1, 4, 4, 700, 129)]
LOCAL_WINDOW = 32


def attention_calls(spec):
    """Keyword arguments of sparse_attn.attention for a kernel's
    specialization, over shapes, layouts, (for alpha=any) alphas and, for
    entmax, local inputs."""
    alphas = [None]
    if spec["normalizer"] == "entmax":
        alphas = [1.25, 1.75, 2.0] if spec["alpha"] == "any" else [float(spec["alpha"])]
    for batch, heads, kv_heads, query_len, key_len in ATTENTION_SHAPES:
        for layout in ("bhnd", "bnhd"):
            for alpha in alphas:
                yield dict(
                    shape=(batch, heads, kv_heads, query_len, key_len),
                    layout=layout,
                    alpha=alpha,
                    local=False,
                )
    if spec["normalizer"] == "entmax":
        for shape in LOCAL_SHAPES:
            for alpha in alphas:
                yield dict(shape=shape, layout="bhnd", alpha=alpha, local=True)


def local_keys_and_queries(batch, heads, kv_heads, query_len, key_len, dim, dtype):
    """[B, H, N, D] keys whose correlation falls linearly to zero at
    LOCAL_WINDOW positions (moving sums of noise) and queries equal to the
    key at their causal diagonal plus noise."""
    noise = torch.randn(batch, kv_heads, key_len + LOCAL_WINDOW, dim, device="cuda")
    sums = noise.cumsum(dim=2)
    keys = (sums[:, :, LOCAL_WINDOW:] - sums[:, :, :-LOCAL_WINDOW]) / math.sqrt(LOCAL_WINDOW)
    diagonal = (torch.arange(query_len, device="cuda") + key_len - query_len).clamp(0, key_len - 1)
    queries = keys.repeat_interleave(heads // kv_heads, dim=1)[:, :, diagonal]
    queries = queries + 0.3 * torch.randn_like(queries)
    return keys.to(dtype), queries.to(dtype)


def attention_inputs(spec, shape, layout, alpha, local=False):
    batch, heads, kv_heads, query_len, key_len = shape
    dtype = TORCH_DTYPES[spec["dtype"]]
    head_dim, value_dim = int(spec["head_dim"]), int(spec["value_dim"])

    def tensor(heads_, length, dim):
        data = torch.randn(batch, heads_, length, dim, device="cuda", dtype=dtype)
        return data if layout == "bhnd" else data.transpose(1, 2).contiguous()

    arguments = dict(
        normalizer=spec["normalizer"],
        alpha=alpha or 1.5,
        causal=spec["causal"] == "true",
        layout=layout,
        return_stats=spec["statistics"] == "true",
    )
    inputs = dict(
        q=tensor(heads, query_len, head_dim),
        k=tensor(kv_heads, key_len, head_dim),
        v=tensor(kv_heads, key_len, value_dim),
    )
    if local:
        inputs["k"], inputs["q"] = local_keys_and_queries(
            batch, heads, kv_heads, query_len, key_len, head_dim, dtype
        )
    if spec["varlen"] == "true":
        inputs["query_lengths"] = torch.randint(
            0, query_len + 1, (batch,), dtype=torch.int32, device="cuda"
        )
        inputs["key_lengths"] = torch.randint(
            0, key_len + 1, (batch,), dtype=torch.int32, device="cuda"
        )
    if spec["mask"] == "block":
        block_q, block_k = int(spec["mask_block_q"]), int(spec["mask_block_k"])
        counts, indices, full_counts, full_indices = random_block_mask(
            batch, heads, query_len, key_len, block_q, block_k, spec["full_blocks"] == "true"
        )
        inputs.update(
            kv_num_blocks=counts,
            kv_indices=indices,
            full_kv_num_blocks=full_counts,
            full_kv_indices=full_indices,
        )
        arguments.update(mask_block_q=block_q, mask_block_k=block_k)
    if spec["normalizer"] == "elastic_softmax":
        inputs["elastic_tau"] = -1.0 + 0.2 * torch.rand(heads, device="cuda")
        if spec.get("bias") == "true":
            inputs["bias"] = 0.1 * torch.randn(heads, 64, device="cuda")
    return inputs, arguments


def logical(tensor, layout):
    """[B, H, N, D] view of a tensor in `layout`."""
    return tensor if layout == "bhnd" else tensor.transpose(1, 2)


def check_attention(kernel, group):
    spec = kernel.specialization_dict()
    runtime = sparse_attn.default_runtime()
    exact = spec.get("precision") == "3xtf32"
    tolerance = EXACT_F32_TOLERANCE if exact else TOLERANCE[spec["dtype"]]
    op_path_checked = False
    for call in attention_calls(spec):
        shape, layout, alpha = call["shape"], call["layout"], call["alpha"]
        name = f"{'x'.join(map(str, shape))} {layout}" + (f" alpha={alpha}" if alpha else "")
        name += " local" if call["local"] else ""
        with group.case(name):
            inputs, arguments = attention_inputs(spec, shape, layout, alpha, call["local"])
            optional = {key: inputs.get(key) for key in OPTIONAL_TENSORS}
            problem = ops.check_attention(
                inputs["q"],
                inputs["k"],
                inputs["v"],
                normalizer=arguments["normalizer"],
                alpha=arguments["alpha"],
                causal=arguments["causal"],
                mask_block_q=arguments.get("mask_block_q", 0),
                mask_block_k=arguments.get("mask_block_k", 0),
                return_stats=arguments["return_stats"],
                niter=entmax_passes(arguments["alpha"]),
                layout=layout,
                **optional,
            )
            out = poisoned(problem.output_shape(), inputs["q"].dtype)
            stats = poisoned(problem.stats_shape())
            scale = ops.default_scale(problem.head_dim)
            tensors, scalars = ops.attention_arguments(
                problem,
                kernel,
                out=out,
                stats=stats,
                scale=scale,
                q=inputs["q"],
                k=inputs["k"],
                v=inputs["v"],
                **optional,
            )
            kernel.launch(tensors, scalars, stream())
            torch.cuda.synchronize()
            # tf32 kernels round Q, K and V on purpose: their reference reads
            # the rounded inputs (statistics near 0 would otherwise compare
            # the rounding, not the kernel).
            operand = rounded_to_tf32 if spec["dtype"] == "f32" and not exact else (lambda t: t)
            expected_out, expected_stats = reference.attention(
                logical(operand(inputs["q"]), layout),
                logical(operand(inputs["k"]), layout),
                logical(operand(inputs["v"]), layout),
                normalizer=arguments["normalizer"],
                alpha=arguments["alpha"],
                causal=arguments["causal"],
                scale=scale,
                block_q=arguments.get("mask_block_q", 128),
                block_k=arguments.get("mask_block_k", 128),
                **optional,
            )
            worst = (spec["normalizer"], spec["dtype"] + (" 3xtf32" if exact else ""))
            expect_close("out", logical(out, layout), expected_out, tolerance, worst)
            if problem.statistics:
                expect_close("stats", stats, expected_stats, 1e-3, worst + ("stats",))

            # Once per kernel, the same call through the PyTorch operation
            # (lookup by specialization, custom op, output allocation).
            if not op_path_checked and chosen_by_the_operation(runtime, problem, kernel):
                op_path_checked = True
                block_mask = None
                if optional["kv_num_blocks"] is not None:
                    block_mask = BlockMask(optional, arguments)
                result = sparse_attn.attention(
                    inputs["q"],
                    inputs["k"],
                    inputs["v"],
                    normalizer=arguments["normalizer"],
                    alpha=arguments["alpha"],
                    causal=arguments["causal"],
                    query_lengths=optional["query_lengths"],
                    key_lengths=optional["key_lengths"],
                    block_mask=block_mask,
                    bias=optional["bias"],
                    elastic_tau=optional["elastic_tau"],
                    return_stats=arguments["return_stats"],
                    layout=layout,
                )
                result = result[0] if arguments["return_stats"] else result
                expect_close(
                    "out through sparse_attn.attention",
                    logical(result, layout),
                    expected_out,
                    tolerance,
                )

    if not op_path_checked:
        group.results.record(
            group.name,
            "skipped",
            "through sparse_attn.attention: the operation's lookup does not "
            "reach this kernel (an earlier bundle has its specialization, or the "
            "specialization has keys the operation does not ask for)",
        )


def chosen_by_the_operation(runtime, problem, kernel):
    try:
        return ops.find_kernel(runtime, problem) is kernel
    except KernelNotFoundError:
        return False


class BlockMask:
    """What sparse_attn.attention reads of a FlexAttention BlockMask."""

    def __init__(self, tensors, arguments):
        self.kv_num_blocks = tensors["kv_num_blocks"]
        self.kv_indices = tensors["kv_indices"]
        self.full_kv_num_blocks = tensors["full_kv_num_blocks"]
        self.full_kv_indices = tensors["full_kv_indices"]
        self.BLOCK_SIZE = (arguments["mask_block_q"], arguments["mask_block_k"])


# --- entmax ---------------------------------------------------------------

# (rows, columns): single element, tails of 64-row tiles and 64-column
# chunks (and of 8-element runs), one whole tile, long rows.
ENTMAX_SHAPES = [(1, 1), (7, 33), (65, 64), (128, 1000), (300, 4099), (4096, 128), (192, 16384)]
# Layouts of x and y: contiguous; rows padded to a stride of 2 mod 8
# elements (never a multiple of 16 bytes); a start off a 16-byte boundary;
# transposed (row stride 1); y written into every other column of a wider
# buffer. All but the first take the kernels' element path.
ENTMAX_LAYOUTS = ["contiguous", "padded rows", "offset start", "transposed", "strided y"]
# Inputs: standard normal; with -inf entries (30%, and one row entirely
# -inf); scaled up (sparse rows) and down (nearly uniform rows, the most
# solver passes).
ENTMAX_INPUTS = ["normal", "-inf entries", "scaled x8", "scaled x0.05"]


def entmax_input(rows, cols, dtype, layout, values):
    """x [rows, cols] in `layout`, and y's buffer and view."""
    data = torch.randn(rows, cols, device="cuda", dtype=torch.float32)
    if values == "-inf entries":
        data[torch.rand(rows, cols, device="cuda") < 0.3] = -math.inf
        data[rows // 2] = -math.inf
    elif values == "scaled x8":
        data *= 8
    elif values == "scaled x0.05":
        data *= 0.05
    data = data.to(dtype)
    if layout == "padded rows":
        stride = -(-cols // 8) * 8 + 2
        x = torch.empty(rows, stride, device="cuda", dtype=dtype)[:, :cols]
        x.copy_(data)
    elif layout == "offset start":
        x = torch.empty(rows, cols + 1, device="cuda", dtype=dtype)[:, 1:]
        x.copy_(data)
    elif layout == "transposed":
        x = data.t().contiguous().t()
    else:
        x = data
    if layout == "strided y":
        buffer = poisoned((rows, 2 * cols), dtype)
        y = buffer[:, ::2]
    else:
        buffer = poisoned((rows, cols), dtype)
        y = buffer
    return x, buffer, y


def entmax_cases(spec):
    alphas = [1.25, 1.5, 2.0] if spec["alpha"] == "any" else [float(spec["alpha"])]
    for rows, cols in ENTMAX_SHAPES:
        for alpha in alphas:
            for values in ENTMAX_INPUTS:
                yield rows, cols, alpha, "contiguous", values
            # Other layouts on the shapes with tails in both dimensions.
            if (rows, cols) in ((7, 33), (128, 1000), (300, 4099)):
                for layout in ENTMAX_LAYOUTS[1:]:
                    yield rows, cols, alpha, layout, "normal"


def entmax_passes(alpha):
    """niter of a case: the default for alpha 1.5 and 2 (closed-form steps,
    converged within it even on near-uniform rows of 16K entries, checked
    on the CPU form); the general-alpha cap of 30 otherwise, as Halley steps
    on long rows need more than 10 passes (6e-4 relative error after 10 on
    f32 rows of 4099 entries for alpha 1.25, 3e-7 after convergence)."""
    return ops.DEFAULT_NITER if alpha in (1.5, 2.0) else 30


def check_entmax(kernel, group):
    spec = kernel.specialization_dict()
    dtype = TORCH_DTYPES[spec["dtype"]]
    tolerance = TOLERANCE[spec["dtype"]]
    worst = ("row-wise entmax", spec["dtype"])
    runtime = sparse_attn.default_runtime()
    op_path_checked = False
    for rows, cols, alpha, layout, values in entmax_cases(spec):
        with group.case(f"{rows}x{cols} alpha={alpha} {layout} {values}"):
            x, buffer, y = entmax_input(rows, cols, dtype, layout, values)
            problem = ops.check_entmax(x, alpha=alpha, niter=entmax_passes(alpha))
            tensors, scalars = ops.entmax_arguments(problem, kernel, x=x, y=y)
            kernel.launch(tensors, scalars, stream())
            torch.cuda.synchronize()
            expected = reference.entmax(x, alpha)
            expect_close("y", y, expected, tolerance, worst)
            if layout == "strided y" and not torch.isnan(buffer[:, 1::2]).all():
                raise AssertionError("the kernel wrote between y's columns")

            # Once per kernel, through the PyTorch operation along the first
            # dimension (its rows reach the kernel as a strided view).
            if (
                not op_path_checked
                and rows >= 128
                and chosen_by_the_operation(runtime, problem, kernel)
            ):
                op_path_checked = True
                columns_first = x.t().contiguous()
                result = sparse_attn.entmax(
                    columns_first, alpha=alpha, dim=0, niter=entmax_passes(alpha)
                )
                expect_close("y through sparse_attn.entmax", result.t(), expected, tolerance)
    if not op_path_checked:
        group.results.record(
            group.name,
            "skipped",
            "through sparse_attn.entmax: the operation's lookup does not reach this kernel "
            "(an earlier bundle has its specialization)",
        )


# --- XAttention block selection ---------------------------------------------

# (B, H, Hkv, Nq, Nk): GQA, tile remainders, Nq < Nk and Nq > Nk.
SELECT_SHAPES = [
    (1, 2, 2, 128, 128),
    (2, 4, 2, 500, 500),
    (1, 4, 1, 300, 900),
    (1, 2, 1, 700, 260),
    (1, 2, 2, 2048, 2048),
]
# Decisions closer than this (relative) to flipping are redrawn: f32 sums
# and exp2.approx move the masses by about 1e-6.
SELECT_MARGIN = 1e-4


def check_select_blocks(kernel, group):
    """The selection against test/lib's float64 reference (identical index
    rows on inputs whose decisions are clear), then the block-sparse
    attention over it against float64 attention over the reference's
    blocks."""
    spec = kernel.specialization_dict()
    dtype = TORCH_DTYPES[spec["dtype"]]
    dim, stride, block = int(spec["head_dim"]), int(spec["stride"]), int(spec["mask_block_q"])
    causal = spec["causal"] == "true"
    runtime = sparse_attn.default_runtime()
    for shape in SELECT_SHAPES:
        batch, heads, kv_heads, query_len, key_len = shape
        for layout in ("bhnd", "bnhd"):
            with group.case(f"{'x'.join(map(str, shape))} {layout}"):
                for _ in range(10):
                    # Local structure: masses concentrate near the diagonal,
                    # so the threshold walk stops early.
                    k, q = local_keys_and_queries(
                        batch, heads, kv_heads, query_len, key_len, dim, dtype
                    )
                    thresholds = 0.6 + 0.35 * torch.rand(heads, device="cuda")
                    scale = ops.default_scale(dim)
                    counts, indices, margin = reference.xattention_selection(
                        q, k, block, stride, thresholds, causal, scale
                    )
                    if margin > SELECT_MARGIN:
                        break
                else:
                    raise Skip(f"no draw with a decision margin above {SELECT_MARGIN}")
                order = (0, 1, 2, 3) if layout == "bhnd" else (0, 2, 1, 3)
                q_in, k_in = (t.permute(order).contiguous() for t in (q, k))
                problem = ops.check_xattention_blocks(
                    q_in,
                    k_in,
                    stride=stride,
                    thresholds=thresholds,
                    causal=causal,
                    block_size=block,
                    layout=layout,
                )
                counts_shape, indices_shape = problem.index_shapes()
                kv_num_blocks = poisoned(counts_shape, torch.int32)
                kv_indices = poisoned(indices_shape, torch.int32)
                tensors, scalars = ops.select_blocks_arguments(
                    problem,
                    q=q_in,
                    k=k_in,
                    thresholds=thresholds,
                    kv_num_blocks=kv_num_blocks,
                    kv_indices=kv_indices,
                    scale=scale,
                )
                kernel.launch(tensors, scalars, stream())
                torch.cuda.synchronize()
                if not torch.equal(kv_num_blocks.cpu(), counts):
                    wrong = (kv_num_blocks.cpu() != counts).nonzero()[:4].tolist()
                    raise AssertionError(f"kv_num_blocks differ from the reference at {wrong}")
                if not torch.equal(kv_indices.cpu(), indices):
                    wrong = (kv_indices.cpu() != indices).nonzero()[:4].tolist()
                    raise AssertionError(f"kv_indices differ from the reference at {wrong}")
                if chosen_by_the_operation(runtime, problem, kernel):
                    # The prefill: the operation's selection, then the
                    # block-sparse attention kernel (when the bundles have it).
                    v = torch.randn(batch, kv_heads, key_len, dim, device="cuda", dtype=dtype)
                    v_in = v.permute(order).contiguous()
                    try:
                        out = sparse_attn.xattention_prefill(
                            q_in, k_in, v_in, stride=stride, threshold=thresholds,
                            causal=causal, block_size=block, layout=layout,
                        )
                    except KernelNotFoundError:
                        continue
                    expected, _ = reference.attention(
                        q, k, v, causal=causal, scale=scale,
                        kv_num_blocks=counts.cuda(), kv_indices=indices.cuda(),
                        block_q=block, block_k=block,
                    )
                    expect_close(
                        "prefill out", logical(out, layout), expected, TOLERANCE[spec["dtype"]],
                        record=("xattention_prefill", spec["dtype"]),
                    )


CHECKERS = {
    "test.scaled_add": check_scaled_add,
    "test.tile_copy": check_tile_copy,
    "attention": check_attention,
    "entmax": check_entmax,
    "select_blocks": check_select_blocks,
}


# --- the runtime on a real device -----------------------------------------


def check_runtime_behaviour(runtime, group):
    """Streams, graphs, threads, JIT and pointer checks, with the test
    bundle's kernels (skipped without them)."""
    try:
        add = runtime.find_kernel("test.scaled_add", {"dtype": "f32"})
        copy = runtime.find_kernel("test.tile_copy", {"dtype": "f32"})
    except KernelNotFoundError:
        group.results.record(group.name, "skipped", "the runtime-test bundle is not loaded")
        return

    with group.case("launch on a side stream"):
        side = torch.cuda.Stream()
        x, y = torch.randn(64, 64, device="cuda"), torch.randn(64, 64, device="cuda")
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            z = poisoned((64, 64))
            add.launch({"x": x, "y": y, "z": z}, {"a": 3.0}, side.cuda_stream)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        expect_close("z", z, 3.0 * x.double() + y.double(), 1e-6)

    with group.case("CUDA graph capture and replay (pointers and TMA descriptors)"):
        x, y, z = (
            torch.randn(100, 96, device="cuda"),
            torch.randn(100, 96, device="cuda"),
            poisoned((100, 96)),
        )
        source, out = padded_source(100, 96), poisoned((100, 96))
        second_source, second_out = padded_source(50, 40), poisoned((50, 40))
        # Warm up outside capture: module load and descriptor memory.
        add.launch({"x": x, "y": y, "z": z}, {"a": 0.5}, stream())
        copy.launch({"source": source, "out": out}, None, stream())
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            add.launch({"x": x, "y": y, "z": z}, {"a": 0.5}, stream())
            copy.launch({"source": source, "out": out}, None, stream())
            # A descriptor first seen during capture (its memory exists).
            copy.launch({"source": second_source, "out": second_out}, None, stream())
        for _ in range(3):
            for tensor in (x, y, source, second_source):
                tensor.copy_(torch.randn_like(tensor))
            for tensor in (z, out, second_out):
                tensor.fill_(float("nan"))
            graph.replay()
            torch.cuda.synchronize()
            expect_close("z", z, 0.5 * x.double() + y.double(), 1e-6)
            if not torch.equal(out, source) or not torch.equal(second_out, second_source):
                raise AssertionError("a replayed tile copy differs from its source")

    with group.case("launches from several threads"):
        failures = []

        def worker():
            try:
                torch.cuda.set_device(0)  # makes the context current on this thread
                side = torch.cuda.Stream()
                with torch.cuda.stream(side):
                    for _ in range(20):
                        x, y = torch.randn(37, 53, device="cuda"), torch.randn(
                            37, 53, device="cuda"
                        )
                        z = poisoned((37, 53))
                        add.launch({"x": x, "y": y, "z": z}, {"a": -2.0}, side.cuda_stream)
                        side.synchronize()
                        expect_close("z", z, -2.0 * x.double() + y.double(), 1e-6)
            except Exception as error:
                failures.append(error)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    with group.case("PTX JIT (a copy of the bundle without its cubin)"):
        bundle_path = next(b.path for b in runtime.bundles if b.name == "runtime-test")
        with tempfile.TemporaryDirectory() as directory:
            jit_path = os.path.join(directory, "runtime-test-ptx.bundle")
            shutil.copytree(bundle_path, jit_path)
            manifest_path = os.path.join(jit_path, "manifest.json")
            with open(manifest_path) as stream_:
                manifest = json.load(stream_)
            manifest["name"] = "runtime-test-ptx"
            for module in manifest["modules"]:
                module.pop("cubin", None)
            with open(manifest_path, "w") as stream_:
                json.dump(manifest, stream_)
            jit_add = runtime.load_bundle(jit_path).kernel("scaled_add_f32")
        x, y, z = (
            torch.randn(20, 30, device="cuda"),
            torch.randn(20, 30, device="cuda"),
            poisoned((20, 30)),
        )
        jit_add.launch({"x": x, "y": y, "z": z}, {"a": 1.5}, stream())
        torch.cuda.synchronize()
        expect_close("z", z, 1.5 * x.double() + y.double(), 1e-6)

    with group.case("host memory is refused"):
        pinned = torch.randn(8, 8, pin_memory=True)
        device_tensor = torch.randn(8, 8, device="cuda")
        host_view = TensorView(pinned.data_ptr(), "f32", (8, 8), (8, 1), 0)
        expect_error(
            ValidationError,
            "is host memory",
            lambda: add.launch(
                {"x": host_view, "y": device_tensor, "z": torch.empty(8, 8, device="cuda")},
                {"a": 1.0},
                stream(),
            ),
        )
        pageable = torch.randn(8, 8)
        pageable_view = TensorView(pageable.data_ptr(), "f32", (8, 8), (8, 1), 0)
        expect_error(
            ValidationError,
            # Pageable memory is unknown to CUDA, or host memory where the
            # driver manages it (HMM).
            ("is not memory allocated through CUDA", "is host memory"),
            lambda: add.launch(
                {"x": pageable_view, "y": device_tensor, "z": torch.empty(8, 8, device="cuda")},
                {"a": 1.0},
                stream(),
            ),
        )

    with group.case("a view beyond its allocation is refused"):
        buffers = sorted(
            (torch.randn(2, 64, device="cuda") for _ in range(3)),
            key=lambda tensor: tensor.data_ptr(),
        )
        z, y, x = buffers  # x has the highest address, so its huge view overlaps nothing written
        huge = TensorView(x.data_ptr(), "f32", (2, 64), (1 << 36, 1), 0)  # row 1 is 256 GiB on
        expect_error(
            ValidationError,
            "past the end of its allocation",
            lambda: add.launch({"x": huge, "y": y, "z": z}, {"a": 1.0}, stream()),
        )

    with group.case("a missing specialization is a clear error"):
        expect_error(
            KernelNotFoundError,
            "kernels for this op:\n  {dtype=f32}",
            lambda: runtime.find_kernel("test.scaled_add", {"dtype": "bf16"}),
        )
