"""Helpers of the numeric tests: build a sparse_attn function as MLIR text,
run it with sparse-attn-run on .npy inputs, compare its results with the
float64 reference of sparse_attn_reference.

Environment (set by test/lit.cfg.py):
  SPARSE_ATTN_RUN        path of the sparse-attn-run tool (required to run)
  SPARSE_ATTN_PIPELINE   pipeline to run (lit parameter `pipeline`), default
                         `reference`
  SPARSE_ATTN_TEST_SEED  overrides the fixed seed of every test (exploration)
"""

import concurrent.futures
import dataclasses
import os
import shlex
import subprocess
import sys

import numpy as np

import sparse_attn_reference as ref

# Relative error bound against the float64 reference, per element type.
TOLERANCE = {"f32": 1e-5, "bf16": 1e-2, "f16": 1e-3}

# One sparse-attn-run invocation compiles and runs a small module; a test
# runs RUN_JOBS of them at a time (CI has two cores).
RUN_TIMEOUT_S = 300
RUN_JOBS = 2


def pipeline():
    return os.environ.get("SPARSE_ATTN_PIPELINE", "reference")


def test_seed(default):
    return int(os.environ.get("SPARSE_ATTN_TEST_SEED", default))


# ---------------------------------------------------------------------------
# MLIR text
# ---------------------------------------------------------------------------


def tensor_type(shape, element_type):
    return "tensor<" + "".join(f"{extent}x" for extent in shape) + element_type + ">"


def mask_type(shape, block):
    dims = "x".join(str(extent) for extent in shape)
    return f"!sparse_attn.block_mask<{dims}, block = {block[0]}x{block[1]}>"


def float_literal(value):
    """A literal that parses back to the same f32 (repr is exact). Entmax
    alpha is a double attribute: its literal is repr(float(alpha))."""
    return repr(float(np.float32(value)))


def f32_value(value):
    """The value an f32 attribute holds."""
    return float(np.float32(value))


def _argument_data(values, element_type):
    """The .npy payload of an argument: bf16 as RNE-rounded f32 (what the
    tool reads for bf16), f16 as f2, f32 as f4, i32 as i4."""
    if element_type == "i32":
        return np.asarray(values, dtype=np.int32)
    if element_type == "f16":
        return np.asarray(values, dtype=np.float16)
    if element_type == "bf16":
        return ref.round_to_bf16(values)
    if element_type == "f32":
        return np.asarray(values, dtype=np.float32)
    raise ValueError(f"unsupported argument element type {element_type}")


class Function:
    """One func.func with static shapes: its arguments are the inputs
    sparse-attn-run reads (in order), its results those it writes."""

    def __init__(self, name="main"):
        self.name = name
        self.arguments = []  # (ssa name, type, .npy payload)
        self.body = []
        self.results = []  # (ssa name, type)
        self._next_value = 0

    def value(self):
        self._next_value += 1
        return f"%v{self._next_value}"

    def argument(self, values, element_type):
        data = _argument_data(values, element_type)
        name = f"%arg{len(self.arguments)}"
        self.arguments.append((name, tensor_type(data.shape, element_type), data))
        return name

    def op(self, line):
        self.body.append(line)

    def result(self, name, type_):
        self.results.append((name, type_))
        return len(self.results) - 1

    def text(self):
        arguments = ", ".join(f"{name}: {type_}" for name, type_, _ in self.arguments)
        result_types = ", ".join(type_ for _, type_ in self.results)
        lines = [f"func.func @{self.name}({arguments}) -> ({result_types}) {{"]
        lines += [f"  {line}" for line in self.body]
        lines.append(f"  return {', '.join(name for name, _ in self.results)} : "
                     f"{result_types}")
        lines.append("}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Block masks: the same expression emitted as IR and evaluated by the
# reference.
# ---------------------------------------------------------------------------


class Mask:
    """A mask expression of shape [B, H, Nq, Nk] with block sizes (BQ, BK)."""

    def __init__(self, shape, block):
        self.shape = tuple(shape)
        self.block = tuple(block)

    @property
    def type(self):
        return mask_type(self.shape, self.block)

    def emit(self, function):
        """Emits the producing ops; returns the SSA name of the mask."""
        raise NotImplementedError

    def visible(self):
        """Token-level visibility from the reference, [B, H, Nq, Nk]."""
        raise NotImplementedError


class DenseMask(Mask):
    def emit(self, function):
        name = function.value()
        function.op(f"{name} = sparse_attn.dense_mask() : {self.type}")
        return name

    def visible(self):
        return ref.dense_mask(*self.shape)

    def __repr__(self):
        return f"dense{self.shape}/{self.block}"


class CausalMask(Mask):
    def emit(self, function):
        name = function.value()
        function.op(f"{name} = sparse_attn.causal_mask() : {self.type}")
        return name

    def visible(self):
        return ref.causal_mask(*self.shape)

    def __repr__(self):
        return f"causal{self.shape}/{self.block}"


class StreamingMask(Mask):
    def __init__(self, shape, block, sink, window):
        super().__init__(shape, block)
        self.sink, self.window = sink, window

    def emit(self, function):
        name = function.value()
        function.op(f"{name} = sparse_attn.streaming_mask() sink({self.sink}) "
                    f"window({self.window}) : {self.type}")
        return name

    def visible(self):
        return ref.streaming_mask(*self.shape, self.sink, self.window)

    def __repr__(self):
        return f"streaming{self.shape}/{self.block}(sink={self.sink}, window={self.window})"


class IndexMask(Mask):
    """mask_from_indices of index tensors passed as function arguments."""

    def __init__(self, shape, block, counts, indices, full_counts=None,
                 full_indices=None):
        super().__init__(shape, block)
        self.tensors = [np.asarray(t, dtype=np.int32) for t in
                        (counts, indices, full_counts, full_indices) if t is not None]

    def emit(self, function):
        operands = [function.argument(t, "i32") for t in self.tensors]
        types = ", ".join(tensor_type(t.shape, "i32") for t in self.tensors)
        full = f" full({operands[2]}, {operands[3]})" if len(operands) == 4 else ""
        name = function.value()
        function.op(f"{name} = sparse_attn.mask_from_indices {operands[0]}, "
                    f"{operands[1]}{full} () : {types} -> {self.type}")
        return name

    def visible(self):
        return ref.mask_from_indices(self.tensors[0], self.tensors[1], self.shape[2],
                                     self.shape[3], *self.block, *self.tensors[2:])

    def __repr__(self):
        listing = ", ".join(np.array2string(t, separator=",").replace("\n", "")
                            for t in self.tensors)
        return f"from_indices{self.shape}/{self.block}({listing})"


class _MaskCombination(Mask):
    OPERATION = None
    REFERENCE = None

    def __init__(self, lhs, rhs):
        shape = (max(lhs.shape[0], rhs.shape[0]), max(lhs.shape[1], rhs.shape[1]),
                 lhs.shape[2], lhs.shape[3])
        super().__init__(shape, lhs.block)
        self.lhs, self.rhs = lhs, rhs

    def emit(self, function):
        lhs, rhs = self.lhs.emit(function), self.rhs.emit(function)
        name = function.value()
        function.op(f"{name} = sparse_attn.{self.OPERATION} {lhs}, {rhs} : "
                    f"{self.lhs.type}, {self.rhs.type} -> {self.type}")
        return name

    def visible(self):
        return type(self).REFERENCE(self.lhs.visible(), self.rhs.visible())

    def __repr__(self):
        return f"{self.OPERATION}({self.lhs!r}, {self.rhs!r})"


class MaskUnion(_MaskCombination):
    OPERATION = "mask_union"
    REFERENCE = staticmethod(ref.mask_union)


class MaskIntersect(_MaskCombination):
    OPERATION = "mask_intersect"
    REFERENCE = staticmethod(ref.mask_intersect)


class RoundTripMask(Mask):
    """mask_from_indices of the four mask_to_indices tensors of a mask (the
    partial pair as the main pair, the full pair as the full pair): every
    non-empty block of the original becomes a full block."""

    def __init__(self, inner):
        super().__init__(inner.shape, inner.block)
        self.inner = inner

    def emit(self, function):
        names, types = _emit_to_indices(function, self.inner.emit(function), self.inner)
        name = function.value()
        function.op(f"{name} = sparse_attn.mask_from_indices {names[0]}, {names[1]} "
                    f"full({names[2]}, {names[3]}) () : {', '.join(types)} -> {self.type}")
        return name

    def visible(self):
        listing = ref.mask_to_indices(self.inner.visible(), *self.block)
        return ref.mask_from_indices(listing[0], listing[1], self.shape[2], self.shape[3],
                                     *self.block, listing[2], listing[3])

    def __repr__(self):
        return f"round_trip({self.inner!r})"


def _emit_to_indices(function, mask_name, mask):
    """Emits mask_to_indices; returns the four SSA names and types."""
    batch, heads, nq, nk = mask.shape
    qb, kb = -(-nq // mask.block[0]), -(-nk // mask.block[1])
    types = [tensor_type([batch, heads, qb], "i32"),
             tensor_type([batch, heads, qb, kb], "i32")] * 2
    names = [function.value() for _ in types]
    function.op(f"{', '.join(names)} = sparse_attn.mask_to_indices {mask_name} : "
                f"{mask.type} -> {', '.join(types)}")
    return names, types


def emit_mask_to_indices(function, mask):
    """Emits a mask and its mask_to_indices, the four tensors made results;
    returns their result indices."""
    names, types = _emit_to_indices(function, mask.emit(function), mask)
    return [function.result(name, type_) for name, type_ in zip(names, types)]


# ---------------------------------------------------------------------------
# Op cases
# ---------------------------------------------------------------------------


def attention_operands(function, q, k, v, element_type, mask):
    """q, k and v made function arguments, then the optional mask emitted:
    `q, k, v[ mask(...)]`, the operands that sparse_attn.attention and
    sparse_attn.prefill begin with, as IR text."""
    operands = ", ".join(function.argument(t, element_type) for t in (q, k, v))
    if mask is not None:
        operands += f" mask({mask.emit(function)} : {mask.type})"
    return operands


def length_operands(function, query_lengths, key_lengths):
    """The optional ` query_lengths(...)` and ` key_lengths(...)` operands
    (i32 function arguments) as IR text."""
    operands = ""
    for field, values in (("query_lengths", query_lengths), ("key_lengths", key_lengths)):
        if values is not None:
            operands += (f" {field}({function.argument(values, 'i32')} : "
                         f"{tensor_type(np.shape(values), 'i32')})")
    return operands


def scale_operand(scale):
    """The optional ` scale(...)` operand as IR text."""
    return "" if scale is None else f" scale({float_literal(scale)})"


def emit_attention_results(function, operation, operands, q, k, v, element_type, statistics):
    """Emits `results = operation operands : q, k, v types -> output[,
    statistics]` (sparse_attn.attention or sparse_attn.prefill with its
    attributes); returns the result indices."""
    types = [tensor_type(q.shape[:3] + v.shape[3:], element_type)]
    if statistics:
        types.append(tensor_type(q.shape[:3], "f32"))
    names = [function.value() for _ in types]
    operand_types = ", ".join(tensor_type(t.shape, element_type) for t in (q, k, v))
    function.op(f"{', '.join(names)} = {operation} {operands} : {operand_types} -> "
                f"{', '.join(types)}")
    return [function.result(name, type_) for name, type_ in zip(names, types)]


@dataclasses.dataclass
class AttentionCase:
    """One sparse_attn.attention: operands already rounded to element_type."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    element_type: str = "f32"
    normalizer: str = "softmax"
    alpha: float = None
    causal: bool = False
    mask: Mask = None
    query_lengths: np.ndarray = None
    key_lengths: np.ndarray = None
    bias: np.ndarray = None
    tau: np.ndarray = None
    scale: float = None
    statistics: bool = False

    def __post_init__(self):
        for field in ("q", "k", "v", "bias", "tau"):
            values = getattr(self, field)
            if values is not None:
                setattr(self, field, ref.round_to_element_type(values, self.element_type))
        if self.scale is not None:
            self.scale = f32_value(self.scale)

    @property
    def tolerance(self):
        return TOLERANCE[self.element_type]

    def __str__(self):
        parts = [f"{self.normalizer}" + (f"<alpha={self.alpha}>" if self.alpha else ""),
                 self.element_type, f"q{list(self.q.shape)} k{list(self.k.shape)} "
                 f"v{list(self.v.shape)}"]
        if self.causal:
            parts.append("causal")
        for field in ("query_lengths", "key_lengths", "scale"):
            if getattr(self, field) is not None:
                parts.append(f"{field}={np.asarray(getattr(self, field)).tolist()}")
        if self.bias is not None:
            parts.append(f"bias{list(self.bias.shape)}")
        if self.tau is not None:
            parts.append(f"tau={self.tau.tolist()}")
        if self.mask is not None:
            parts.append(f"mask={self.mask!r}")
        if self.statistics:
            parts.append("statistics")
        return " ".join(parts)

    def reference(self):
        """(output, statistics) in float64."""
        return ref.attention(
            self.q, self.k, self.v, normalizer=self.normalizer, alpha=self.alpha,
            causal=self.causal,
            mask=None if self.mask is None else self.mask.visible(),
            query_lengths=self.query_lengths, key_lengths=self.key_lengths,
            bias=self.bias, tau=self.tau, scale=self.scale)

    def emit(self, function):
        """Emits the op; returns the result indices (output[, statistics])."""
        et = self.element_type
        operands = attention_operands(function, self.q, self.k, self.v, et, self.mask)
        operands += length_operands(function, self.query_lengths, self.key_lengths)
        for field in ("bias", "tau"):
            values = getattr(self, field)
            if values is not None:
                operands += (f" {field}({function.argument(values, et)} : "
                             f"{tensor_type(values.shape, et)})")
        operands += scale_operand(self.scale)
        normalizer = self.normalizer
        if normalizer == "entmax":
            normalizer += f"<alpha = {repr(float(self.alpha))}>"
        causal = " causal" if self.causal else ""
        return emit_attention_results(function, f"sparse_attn.attention {normalizer}{causal}",
                                      operands, self.q, self.k, self.v, et, self.statistics)


@dataclasses.dataclass
class EntmaxCase:
    """One sparse_attn.entmax of a tensor of any rank."""

    values: np.ndarray
    alpha: float
    element_type: str = "f32"

    def __post_init__(self):
        self.values = ref.round_to_element_type(self.values, self.element_type)

    @property
    def tolerance(self):
        return TOLERANCE[self.element_type]

    def __str__(self):
        return (f"entmax<alpha={self.alpha}> {self.element_type} "
                f"{list(self.values.shape)}")

    def threshold(self):
        """The reference threshold per row, in units of (alpha - 1) x."""
        return ref.entmax_threshold((self.alpha - 1.0) * self.values, self.alpha)

    def reference(self):
        return ref.entmax(self.values, self.alpha)

    def emit(self, function):
        name = function.argument(self.values, self.element_type)
        result = function.value()
        type_ = tensor_type(self.values.shape, self.element_type)
        function.op(f"{result} = sparse_attn.entmax {name} "
                    f"<alpha = {repr(float(self.alpha))}> : {type_}")
        return [function.result(result, type_)]


# ---------------------------------------------------------------------------
# Random inputs
# ---------------------------------------------------------------------------


def odd_length(rng, low, high):
    """A sequence length in [low, high] that no block size (a power of two
    above 1) divides."""
    return int(rng.integers(low // 2, (high - 1) // 2 + 1)) * 2 + 1


def random_varlen(rng, batch, nq, nk, which="both"):
    """(query_lengths, key_lengths) for varlen, None for the one `which`
    ("both", "query" or "key") leaves out. One sequence is empty (a zero or
    negative length, clamped to 0), another has a length past the padded
    extent (clamped), the rest lie in [1, extent]."""
    lengths = [rng.integers(1, nq + 1, size=batch), rng.integers(1, nk + 1, size=batch)]
    chosen = {"both": [0, 1], "query": [0], "key": [1]}[which]
    empty = int(rng.integers(batch))
    for side in chosen if len(chosen) == 1 else rng.permutation(chosen)[: rng.integers(1, 3)]:
        lengths[side][empty] = -int(rng.integers(0, 2))
    if batch > 1:
        clamped = (empty + 1 + int(rng.integers(batch - 1))) % batch
        side = int(rng.choice(chosen))
        lengths[side][clamped] = (nq, nk)[side] + int(rng.integers(1, 5))
    return tuple(lengths[side].astype(np.int32) if side in chosen else None
                 for side in (0, 1))


def random_case_operands(rng, keys, lengths="=", shorter=(5, 4), longer=24, batch=1, kv_heads=1,
                         group=1, head_dims=(4, 8, 16), varlen=None):
    """(q, k, v, {query_lengths, key_lengths}) of a case with lengths that no
    block size divides: Nk odd in keys = (low, high); Nq equal to it
    (lengths "="), odd in [shorter[0], Nk - shorter[1]] ("<") or in
    [Nk + 2, Nk + longer] (">"); kv_heads * group query heads; the head
    dimension one of head_dims; varlen lengths (random_varlen) for the
    sequences `varlen` names, else none."""
    nk = odd_length(rng, *keys)
    nq = {"<": lambda: odd_length(rng, shorter[0], nk - shorter[1]), "=": lambda: nk,
          ">": lambda: odd_length(rng, nk + 2, nk + longer)}[lengths]()
    q, k, v = random_attention_operands(rng, batch, kv_heads * group, kv_heads, nq, nk,
                                        int(rng.choice(head_dims)))
    query_lengths, key_lengths = (random_varlen(rng, batch, nq, nk, varlen)
                                  if varlen else (None, None))
    return q, k, v, dict(query_lengths=query_lengths, key_lengths=key_lengths)


BLOCK_SIZES = (8, 16, 32)


def random_index_mask(rng, shape, block, full_pair=True):
    """mask_from_indices with FlexAttention-like tensors, plus what the
    contract settles: counts past KB (clamped) or negative, indices out of
    range (select nothing), duplicates, and the optional full pair."""
    batch, heads, nq, nk = shape
    qb, kb = -(-nq // block[0]), -(-nk // block[1])

    def pair():
        counts = rng.integers(-1, kb + 3, size=(batch, heads, qb))
        indices = rng.integers(-1, kb + 2, size=(batch, heads, qb, kb))
        return counts, indices

    return IndexMask(shape, block, *pair(), *(pair() if full_pair else ()))


def random_streaming_mask(rng, shape, block):
    """Sink from 0 to a few tokens, window from 1 to past the key length."""
    return StreamingMask(shape, block, sink=int(rng.integers(0, 5)),
                         window=int(rng.integers(1, shape[3] + 3)))


def random_mask(rng, kind, batch, heads, nq, nk, block=None):
    """A mask expression of the given kind for attention of [B, H, Nq, Nk];
    the combinations broadcast a 1 x H operand against a B x 1 one."""
    if block is None:
        block = (int(rng.choice(BLOCK_SIZES)), int(rng.choice(BLOCK_SIZES)))
    if kind == "dense":
        return DenseMask((1, 1, nq, nk), block)
    if kind == "causal":
        return CausalMask((1, 1, nq, nk), block)
    if kind == "streaming":
        return random_streaming_mask(rng, (1, 1, nq, nk), block)
    if kind == "indices":
        return random_index_mask(rng, (batch, heads, nq, nk), block)
    if kind in ("union", "intersect"):
        lhs = random_index_mask(rng, (1, heads, nq, nk), block, full_pair=False)
        rhs = random_streaming_mask(rng, (batch, 1, nq, nk), block)
        return (MaskUnion if kind == "union" else MaskIntersect)(lhs, rhs)
    raise ValueError(f"unknown mask kind {kind}")


def random_attention_operands(rng, batch, heads, kv_heads, nq, nk, head_dim,
                              value_dim=None):
    """q, k, v with scores of order one after the 1/sqrt(D) scale."""
    value_dim = head_dim if value_dim is None else value_dim
    return (rng.standard_normal((batch, heads, nq, head_dim)),
            rng.standard_normal((batch, kv_heads, nk, head_dim)),
            rng.standard_normal((batch, kv_heads, nk, value_dim)))


# ---------------------------------------------------------------------------
# Conditioning, checks, drawing and grouping cases
# ---------------------------------------------------------------------------

# Entmax weights p = gap^(1/(alpha-1)) (gap = x - tau) have an unbounded
# slope at gap -> 0 when alpha > 2: there the f32 rounding of one score alone
# moves p by more than 1e-5. Tests of alpha > 2 redraw the rows that have a
# score within this margin (in units of x) of the threshold.
ENTMAX_MARGIN = 1e-2


def _rows_near_threshold(x, tau, visible):
    with np.errstate(invalid="ignore"):  # inf - inf in empty rows
        near = visible & (np.abs(x - tau[..., None]) < ENTMAX_MARGIN)
    return near.any(axis=-1)


def redraw_ill_conditioned_rows(rng, case, attempts=100):
    """For an entmax case with alpha > 2 (AttentionCase or EntmaxCase),
    redraws the query rows (or input rows) whose threshold lies within
    ENTMAX_MARGIN of a visible score, until there is none."""
    if case.alpha <= 2:
        return
    for _ in range(attempts):
        if isinstance(case, EntmaxCase):
            x = (case.alpha - 1.0) * case.values
            near = _rows_near_threshold(x, case.threshold(), np.ones(x.shape, bool))
            rows = case.values
        else:
            x = (case.alpha - 1.0) * ref.attention_scores(
                case.q, case.k, case.query_lengths, case.key_lengths, case.bias, case.scale)
            visible = ref.attention_visibility(
                *x.shape, case.causal, None if case.mask is None else case.mask.visible(),
                case.query_lengths, case.key_lengths)
            near = _rows_near_threshold(x, case.reference()[1], visible)
            rows = case.q
        if not near.any():
            return
        drawn = rng.standard_normal((np.count_nonzero(near), rows.shape[-1]))
        spread = rows.std() or 1.0
        rows[near] = ref.round_to_element_type(drawn * spread, case.element_type)
    raise RuntimeError(f"could not condition {case}")


def check_attention(report, case, results):
    """Output within the case's tolerance; statistics (computed in f32 for
    every element type) within the f32 tolerance."""
    expected_output, expected_statistics = case.reference()
    report.expect_close(case, "output", results[0], expected_output, case.tolerance)
    if case.statistics:
        report.expect_statistics(case, "statistics", results[1], expected_statistics,
                                 TOLERANCE["f32"])


def check_entmax(report, case, results):
    """Values, row sums and support of sparse_attn.entmax."""
    expected = case.reference()
    report.expect_close(case, "output", results[0], expected, case.tolerance)
    gaps = (case.alpha - 1.0) * case.values - case.threshold()[..., None]
    report.expect_entmax_weights(case, "output", results[0], expected, gaps, case.tolerance)


def draw_attention_case(rng, normalizer="softmax", element_type="f32", alpha=None,
                        group=1, kv_heads=1, batch=2, causal=False, lengths="=",
                        varlen=None, mask=None, bias=None, scale=None, value_dim=None,
                        identity_values=False):
    """A random AttentionCase with statistics.

    lengths: "<", "=" or ">" (Nq against Nk; both odd, so no block size
    divides them); varlen: None, "both", "query" or "key" (random_varlen);
    mask: a random_mask kind; bias: None, "narrow" ([H, W], W < Nk) or
    "wide" (W > Nk); identity_values: v is the identity, so the output is
    the weight matrix. Elastic softmax heads cycle through the shifts -1
    (the paper's initial value), 0, -3 (removes almost everything) and 0.4,
    jittered. Entmax with alpha > 2 is conditioned
    (redraw_ill_conditioned_rows)."""
    heads = kv_heads * group
    nk = odd_length(rng, 9, 45)
    nq = {"<": odd_length(rng, 1, nk - 2), "=": nk,
          ">": odd_length(rng, nk + 2, nk + 20)}[lengths]
    head_dim = int(rng.choice([4, 8, 16]))
    q, k, v = random_attention_operands(rng, batch, heads, kv_heads, nq, nk, head_dim,
                                        value_dim)
    if identity_values:
        v = np.broadcast_to(np.eye(nk), (batch, kv_heads, nk, nk))
    query_lengths, key_lengths = (random_varlen(rng, batch, nq, nk, varlen)
                                  if varlen else (None, None))
    width = {None: None, "narrow": int(rng.integers(1, nk)),
             "wide": nk + int(rng.integers(1, 9))}[bias]
    tau = None
    if normalizer == "elastic_softmax":
        tau = (np.array([-1.0, 0.0, -3.0, 0.4])[np.arange(heads) % 4]
               + rng.uniform(-0.2, 0.2, heads))
    case = AttentionCase(
        q, k, v, element_type, normalizer, alpha=alpha, causal=causal,
        mask=None if mask is None else random_mask(rng, mask, batch, heads, nq, nk),
        query_lengths=query_lengths, key_lengths=key_lengths,
        bias=None if width is None else rng.standard_normal((heads, width)),
        tau=tau, scale=scale, statistics=True)
    if normalizer == "entmax":
        redraw_ill_conditioned_rows(rng, case)
    return case


def function_of(tag, cases):
    """One function holding the cases (objects whose emit(function) returns
    their result indices): (function, [(case, result indices)])."""
    function = Function(tag.replace("-", "_"))
    return function, [(case, case.emit(function)) for case in cases]


def run_attention_groups(report, workdir, groups, check=None):
    """Runs each group {tag: [case]} as one function; check(case, results)
    defaults to check_attention (of AttentionCase)."""
    report.run(workdir, {tag: function_of(tag, cases) for tag, cases in groups.items()},
               check or (lambda case, results: check_attention(report, case, results)))


# ---------------------------------------------------------------------------
# Running sparse-attn-run
# ---------------------------------------------------------------------------


class ToolError(Exception):
    pass


def run_function(function, workdir, tag):
    """Writes the module and its inputs under workdir, runs sparse-attn-run
    and returns the results as arrays (in result order)."""
    tool = os.environ.get("SPARSE_ATTN_RUN")
    if not tool:
        raise ToolError("SPARSE_ATTN_RUN is not set (lit sets it to the built "
                        "sparse-attn-run)")
    os.makedirs(workdir, exist_ok=True)
    module = os.path.join(workdir, f"{tag}.mlir")
    with open(module, "w") as stream:
        stream.write(function.text())
    command = [tool, module, f"--entry={function.name}", f"--pipeline={pipeline()}"]
    for index, (_, _, data) in enumerate(function.arguments):
        path = os.path.join(workdir, f"{tag}.arg{index}.npy")
        np.save(path, data)
        command.append(f"--input={index}={path}")
    outputs = os.path.join(workdir, f"{tag}.outputs")
    os.makedirs(outputs, exist_ok=True)
    command.append(f"--write-outputs={outputs}")
    try:
        completed = subprocess.run(command, capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"timed out after {RUN_TIMEOUT_S} s: {shlex.join(command)}")
    if completed.returncode != 0:
        raise ToolError(f"exit {completed.returncode}: {shlex.join(command)}\n"
                        f"{completed.stderr.strip()}")
    results = []
    for index in range(len(function.results)):
        path = os.path.join(outputs, f"result{index}.npy")
        if not os.path.exists(path):
            raise ToolError(f"missing {path}: {shlex.join(command)}")
        results.append(np.load(path))
    return results


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


def relative_error(out, expected):
    """max|out - expected| / max|expected| (absolute when expected is all
    zero); NaN in the output or a shape mismatch never passes."""
    out = np.asarray(out, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if out.shape != expected.shape or np.isnan(out).any():
        return np.nan
    if out.size == 0:
        return 0.0
    difference = np.abs(out - expected).max()
    magnitude = np.abs(expected).max()
    return difference / magnitude if magnitude > 0 else difference


def statistics_error(out, expected):
    """relative_error over the finite entries; infinities (empty rows) must
    match exactly, sign included."""
    out = np.asarray(out, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if out.shape != expected.shape:
        return np.nan
    finite = np.isfinite(expected)
    if not np.array_equal(out[~finite], expected[~finite]):
        return np.nan
    return relative_error(out[finite], expected[finite])


class Report:
    """Collects the checks of one test; finish() prints every failure with
    the seed, the function and case it belongs to and where its module and
    inputs were written, and exits non-zero if there was one."""

    def __init__(self, test_name, seed):
        self.test_name, self.seed = test_name, seed
        self.failures = []
        self.checks = 0
        self.context = ""  # "<module path> case <n>" while checking a case

    def fail(self, case, message):
        self.failures.append(f"{self.context}[{case}] {message}")

    def expect(self, condition, case, message):
        self.checks += 1
        if not condition:
            self.fail(case, message)

    def expect_close(self, case, label, out, expected, tolerance):
        error = relative_error(out, expected)
        self.expect(error <= tolerance, case,
                    f"{label}: relative error {error:.3g} > {tolerance:g}")

    def expect_statistics(self, case, label, out, expected, tolerance):
        error = statistics_error(out, expected)
        self.expect(error <= tolerance, case,
                    f"{label}: statistics error {error:.3g} > {tolerance:g} "
                    "(or infinities of empty rows differ)")

    def expect_equal(self, case, label, out, expected):
        out, expected = np.asarray(out), np.asarray(expected)
        equal = out.shape == expected.shape and np.array_equal(out, expected)
        where = ""
        if not equal and out.shape == expected.shape:
            first = tuple(int(i) for i in np.argwhere(out != expected)[0])
            where = f" first at {first}: {out[first]} != {expected[first]}"
        self.expect(equal, case, f"{label}: differs{where}" if out.shape == expected.shape
                    else f"{label}: shape {out.shape} != {expected.shape}")

    def expect_entmax_weights(self, case, label, weights, expected, gaps, tolerance):
        """Entmax-specific properties of weights (rows along the last axis):
        every non-empty row sums to one, entries the reference sets to zero
        with a margin (gap = x - tau below -tolerance, in units of x) are
        exactly zero, and entries above tolerance in the reference are
        positive."""
        weights = np.asarray(weights, dtype=np.float64)
        sums = weights.sum(axis=-1)
        nonempty = expected.sum(axis=-1) > 0
        self.expect(np.all(np.abs(sums[nonempty] - 1) <= tolerance), case,
                    f"{label}: row sums deviate from 1 by "
                    f"{np.abs(sums[nonempty] - 1).max(initial=0):.3g}")
        clearly_out = gaps < -tolerance
        self.expect(np.all(weights[clearly_out] == 0), case,
                    f"{label}: {np.count_nonzero(weights[clearly_out])} entries "
                    "outside the support are not exactly zero")
        clearly_in = expected > tolerance
        self.expect(np.all(weights[clearly_in] > 0), case,
                    f"{label}: {np.count_nonzero(weights[clearly_in] <= 0)} "
                    "entries of the support are zero")

    def run(self, workdir, functions, check):
        """Runs functions {tag: (Function, [(case, result indices)])} with
        sparse-attn-run, RUN_JOBS at a time, then check(case, results) for
        every case in order. A tool failure is one failure listing every case
        of its function."""
        with concurrent.futures.ThreadPoolExecutor(RUN_JOBS) as pool:
            runs = {tag: pool.submit(run_function, function, workdir, tag)
                    for tag, (function, _) in functions.items()}
        for tag, (_, cases) in functions.items():
            try:
                results = runs[tag].result()
            except ToolError as error:
                listing = "".join(f"\n  case: {case}" for case, _ in cases)
                self.fail(f"function {tag}", f"sparse-attn-run failed: {error}{listing}")
                continue
            for number, (case, indices) in enumerate(cases):
                self.context = f"{os.path.join(workdir, tag)}.mlir case {number} "
                check(case, [results[index] for index in indices])
        self.context = ""

    def finish(self):
        print(f"{self.test_name}: seed {self.seed}, pipeline {pipeline()}, "
              f"{self.checks} checks, {len(self.failures)} failures")
        for failure in self.failures:
            print(f"FAIL (seed {self.seed}): {failure}")
        sys.exit(1 if self.failures else 0)
