"""Helpers of the numeric tests of the prefill ops: the estimators as
sparse_attn_testing masks (emitted as IR, evaluated by
sparse_attn_prefill_reference), head routing, the prefill op, conditioning
of random inputs away from decision ties, and the checks.

An estimator case emits the estimator and checks, against the float64
reference of the published algorithm:
  * mask_to_indices exactly (the selected blocks, classified full / partial);
  * the token-level visibility exactly, revealed by softmax attention with
    zero queries and keys and identity values;
  * softmax attention under the mask, equal to dense masked attention under
    the reference mask within the element type's tolerance;
  * XAttention: every query block row of the compiled selection reaches its
    threshold mass; FlexPrefill: the pattern of every head.
"""

import dataclasses
import functools

import numpy as np

import sparse_attn_prefill_reference as prefill
import sparse_attn_reference as ref
import sparse_attn_testing as testing

# Decisions closer to flipping than this (relative to what they compare)
# are redrawn: f32 rounding moves the compared quantities by ~1e-6.
MARGIN = 1e-4


class EstimatorMask(testing.Mask):
    """An estimator op reading its own copies of q and k (arguments)."""

    OPERATION = None

    def __init__(self, q, k, block, element_type="f32", query_lengths=None, key_lengths=None,
                 scale=None):
        super().__init__((q.shape[0], q.shape[1], q.shape[2], k.shape[2]), block)
        self.q = ref.round_to_element_type(q, element_type)
        self.k = ref.round_to_element_type(k, element_type)
        self.element_type = element_type
        self.query_lengths, self.key_lengths = query_lengths, key_lengths
        self.scale = None if scale is None else testing.f32_value(scale)

    @functools.cached_property
    def estimate(self):
        return self.compute()

    def visible(self):
        return self.estimate.visible

    def compute(self):
        raise NotImplementedError

    def config(self):
        """The `<...>` configuration text."""
        raise NotImplementedError

    def extra_operands(self, function):
        """Per-head operands (thresholds, budgets) as IR text."""
        return ""

    def result_types(self):
        return [self.type]

    def emit_operands(self, function):
        """`q, k` and the optional operands as IR text, and their types."""
        et = self.element_type
        q, k = function.argument(self.q, et), function.argument(self.k, et)
        operands = self.extra_operands(function)
        operands += testing.length_operands(function, self.query_lengths, self.key_lengths)
        operands += testing.scale_operand(self.scale)
        return (f"{q}, {k}{operands}",
                f"{testing.tensor_type(self.q.shape, et)}, {testing.tensor_type(self.k.shape, et)}")

    def emit(self, function):
        operands, operand_types = self.emit_operands(function)
        names = [function.value() for _ in self.result_types()]
        function.op(f"{', '.join(names)} = sparse_attn.{self.OPERATION} {self.config()}"
                    f"{operands} : {operand_types} -> {', '.join(self.result_types())}")
        self.emit_extra_results(function, names[1:])
        return names[0]

    def emit_extra_results(self, function, names):
        pass

    def describe(self):
        lengths = "".join(f" {field}={np.asarray(getattr(self, field)).tolist()}"
                          for field in ("query_lengths", "key_lengths")
                          if getattr(self, field) is not None)
        return (f"{self.OPERATION} {self.config()}{self.element_type} q{list(self.q.shape)} "
                f"k{list(self.k.shape)} block {self.block}{lengths}"
                + ("" if self.scale is None else f" scale={self.scale}"))

    def __repr__(self):
        return self.describe()


def _config_text(entries):
    """`<a = 1, b = 2> ` for the entries that are not None."""
    given = [f"{name} = {value}" for name, value in entries if value is not None]
    return f"<{', '.join(given)}> " if given else ""


class XAttentionMask(EstimatorMask):
    OPERATION = "xattention_mask"
    METHOD = "xattention"

    def __init__(self, q, k, block, stride, threshold=None, thresholds=None, causal=True,
                 **options):
        super().__init__(q, k, block, **options)
        self.stride, self.causal = stride, causal
        self.threshold = None if threshold is None else float(threshold)
        self.thresholds = (None if thresholds is None
                           else np.asarray(thresholds, dtype=np.float32))

    def config(self):
        return _config_text([("stride", self.stride), ("threshold", self.threshold)]) + (
            "causal " if self.causal else "")

    def extra_operands(self, function):
        if self.thresholds is None:
            return ""
        return (f" thresholds({function.argument(self.thresholds, 'f32')} : "
                f"{testing.tensor_type(self.thresholds.shape, 'f32')})")

    def compute(self):
        return prefill.xattention_mask(
            self.q, self.k, self.block, stride=self.stride,
            threshold=0.9 if self.threshold is None else self.threshold,
            thresholds=None if self.thresholds is None else self.thresholds.astype(np.float64),
            causal=self.causal, query_lengths=self.query_lengths,
            key_lengths=self.key_lengths, scale=self.scale)


class FlexPrefillMask(EstimatorMask):
    OPERATION = "flexprefill_mask"
    METHOD = "flexprefill"

    def __init__(self, q, k, block, gamma=0.9, tau=0.1, min_budget=1024, max_budget=None,
                 with_patterns=False, **options):
        super().__init__(q, k, (block, block), **options)
        self.gamma, self.tau = gamma, tau
        self.min_budget, self.max_budget = min_budget, max_budget
        self.with_patterns = with_patterns
        self.patterns_result = None

    def config(self):
        return _config_text([("gamma", self.gamma), ("tau", self.tau),
                             ("min_budget", self.min_budget), ("max_budget", self.max_budget)])

    def result_types(self):
        types = [self.type]
        if self.with_patterns:
            types.append(testing.tensor_type(self.shape[:2], "i32"))
        return types

    def emit_extra_results(self, function, names):
        if names:
            self.patterns_result = function.result(names[0], self.result_types()[1])

    def compute(self):
        return prefill.flexprefill_mask(
            self.q, self.k, self.block[0], gamma=self.gamma, tau=self.tau,
            min_budget=self.min_budget, max_budget=self.max_budget,
            query_lengths=self.query_lengths, key_lengths=self.key_lengths, scale=self.scale)


class VerticalSlashMask(EstimatorMask):
    OPERATION = "vertical_slash_mask"

    def __init__(self, q, k, block, vertical_size, slash_size, last_queries, sink, local,
                 budgets=None, **options):
        super().__init__(q, k, block, **options)
        self.sizes = dict(vertical_size=vertical_size, slash_size=slash_size,
                          last_queries=last_queries, sink=sink, local=local)
        self.budgets = None if budgets is None else np.asarray(budgets, dtype=np.int32)

    def config(self):
        entries = dict(self.sizes)
        if self.budgets is not None:
            entries.update(vertical_size=None, slash_size=None)
        return _config_text(entries.items())

    def extra_operands(self, function):
        if self.budgets is None:
            return ""
        return (f" budgets({function.argument(self.budgets, 'i32')} : "
                f"{testing.tensor_type(self.budgets.shape, 'i32')})")

    def compute(self):
        return prefill.vertical_slash_mask(
            self.q, self.k, budgets=self.budgets, query_lengths=self.query_lengths,
            key_lengths=self.key_lengths, scale=self.scale, **self.sizes)


class RouteHeadsMask(testing.Mask):
    """mask_route_heads of a kinds vector over the operand masks."""

    def __init__(self, kinds, shape, block, streaming=None, masks=()):
        super().__init__(shape, block)
        self.kinds = np.asarray(kinds, dtype=np.int32)
        self.streaming, self.masks = streaming, list(masks)

    def emit(self, function):
        kinds = function.argument(self.kinds, "i32")
        operands = ""
        if self.streaming is not None:
            operands += f" streaming({self.streaming.emit(function)} : {self.streaming.type})"
        if self.masks:
            names = [mask.emit(function) for mask in self.masks]
            operands += (f" masks({', '.join(names)} : "
                         f"{', '.join(mask.type for mask in self.masks)})")
        name = function.value()
        function.op(f"{name} = sparse_attn.mask_route_heads {kinds}{operands} () : "
                    f"{testing.tensor_type(self.kinds.shape, 'i32')} -> {self.type}")
        return name

    def visible(self):
        return prefill.mask_route_heads(
            self.kinds, self.shape,
            None if self.streaming is None else self.streaming.visible(),
            [mask.visible() for mask in self.masks])

    def __repr__(self):
        return (f"route_heads(kinds={self.kinds.tolist()}, streaming={self.streaming!r}, "
                f"masks={self.masks!r})")


def margin_of(mask):
    """The smallest decision margin of the estimators inside a mask."""
    if isinstance(mask, EstimatorMask):
        return mask.estimate.margin
    if isinstance(mask, RouteHeadsMask):
        inner = ([mask.streaming] if mask.streaming is not None else []) + mask.masks
        return min([margin_of(m) for m in inner], default=np.inf)
    return np.inf


def conditioned(rng, make, attempts=50):
    """make(rng) -- a mask or a case holding masks in `mask` / `estimator` --
    until the estimators it builds decide with MARGIN to spare."""
    for _ in range(attempts):
        built = make(rng)
        masks = [getattr(built, field, None) for field in ("mask", "estimator")]
        masks = [mask for mask in masks if mask is not None] or [built]
        if all(margin_of(mask) >= MARGIN for mask in masks):
            return built
    raise RuntimeError("could not draw inputs away from decision ties")


class EmittedMask(testing.Mask):
    """A mask already emitted in the function, used again by name."""

    def __init__(self, mask, name):
        super().__init__(mask.shape, mask.block)
        self.mask, self.name = mask, name

    def emit(self, function):
        return self.name

    def visible(self):
        return self.mask.visible()

    def __repr__(self):
        return repr(self.mask)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class SelectBlocksCase:
    """sparse_attn.select_blocks with the method, operands and block grid of
    an XAttention or FlexPrefill mask: its index lists (and FlexPrefill's
    patterns) against the reference's selected blocks."""

    mask: EstimatorMask

    def __str__(self):
        return f"select_blocks of {self.mask!r}"

    def emit(self, function):
        mask = self.mask
        batch, heads, nq, nk = mask.shape
        block_q, block_k = mask.block
        grid = (batch, heads, -(-nq // block_q))
        types = [testing.tensor_type(grid, "i32"),
                 testing.tensor_type(grid + (-(-nk // block_k),), "i32")]
        # FlexPrefill is causal; XAttention's configuration says whether.
        config = mask.config() + ("causal " if isinstance(mask, FlexPrefillMask) else "")
        if isinstance(mask, FlexPrefillMask):
            types.append(testing.tensor_type((batch, heads), "i32"))
        operands, operand_types = mask.emit_operands(function)
        names = [function.value() for _ in types]
        function.op(f"{', '.join(names)} = sparse_attn.select_blocks {mask.METHOD}"
                    f"{config.rstrip()} {operands} block({block_q}, {block_k}) : "
                    f"{operand_types} -> {', '.join(types)}")
        return [function.result(name, type_) for name, type_ in zip(names, types)]

    def expected_lists(self, results):
        """The reference's selection as counts and ascending indices shaped
        like the compiled ones; rows past the valid query blocks are empty."""
        counts = np.zeros(np.shape(results[0]), dtype=np.int32)
        indices = np.zeros(np.shape(results[1]), dtype=np.int32)
        for (b, h), detail in self.mask.estimate.detail.items():
            for row, selected in enumerate(detail["selected"]):
                listed = np.flatnonzero(selected)
                counts[b, h, row] = len(listed)
                indices[b, h, row, : len(listed)] = listed
        return counts, indices


def check_select_blocks(report, case, results):
    counts, indices = case.expected_lists(results)
    report.expect_equal(case, "kv_num_blocks", results[0], counts)
    report.expect_equal(case, "kv_indices", results[1], indices)
    mask = case.mask
    if isinstance(mask, FlexPrefillMask):
        report.expect_equal(case, "patterns", results[2], mask.estimate.patterns)
    else:
        empty = np.zeros_like(results[0])
        check_threshold_mass(report, case, [results[0], results[1], empty,
                                            np.zeros_like(results[1])])


@dataclasses.dataclass
class EstimatorCase:
    """An estimator mask, its index tensors, its revealed token-level
    visibility and attention under it (values v [B, Hkv, Nk, Dv])."""

    mask: EstimatorMask
    v: np.ndarray

    def __str__(self):
        return repr(self.mask)

    def emit(self, function):
        mask = self.mask
        emitted = EmittedMask(mask, mask.emit(function))
        indices = testing.emit_mask_to_indices(function, emitted)
        batch, heads, nq, nk = mask.shape
        reveal = testing.AttentionCase(
            np.zeros((batch, heads, nq, 1)), np.zeros((batch, 1, nk, 1)),
            np.broadcast_to(np.eye(nk), (batch, 1, nk, nk)), mask=emitted)
        data = testing.AttentionCase(mask.q, mask.k, self.v, mask.element_type,
                                     causal=getattr(mask, "causal", True), mask=emitted,
                                     query_lengths=mask.query_lengths,
                                     key_lengths=mask.key_lengths, scale=mask.scale)
        self.reveal, self.data = reveal, data
        results = indices + reveal.emit(function) + data.emit(function)
        if isinstance(mask, FlexPrefillMask) and mask.patterns_result is not None:
            results.append(mask.patterns_result)
        return results


def check_estimator(report, case, results):
    mask = case.mask
    names = ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"]
    for name, out, expected in zip(names, results[:4], ref.mask_to_indices(mask.visible(),
                                                                         *mask.block)):
        report.expect_equal(case, name, out, expected)
    visible = np.broadcast_to(mask.visible(), results[4].shape)
    report.expect_equal(case, "token-level visibility (revealed)", results[4] > 0, visible)
    expected_output, _ = case.data.reference()
    report.expect_close(case, "attention under the mask", results[5], expected_output,
                        case.data.tolerance)
    if isinstance(mask, FlexPrefillMask) and mask.patterns_result is not None:
        report.expect_equal(case, "patterns", results[6], mask.estimate.patterns)
    if isinstance(mask, XAttentionMask):
        check_threshold_mass(report, case, results[:4])


def check_threshold_mass(report, case, listing):
    """Every query block row of the compiled selection holds at least its
    threshold of the reference block mass, unless it holds every block.
    Blocks without a visible pair have no mass, so the non-empty blocks of
    the compiled mask carry the selected mass."""
    mask = case.mask
    counts, indices, full_counts, full_indices = (np.asarray(t) for t in listing)
    for (b, h), detail in mask.estimate.detail.items():
        mass = detail["mass"]
        for row in range(mass.shape[0]):
            listed = set(indices[b, h, row, : counts[b, h, row]].tolist())
            listed |= set(full_indices[b, h, row, : full_counts[b, h, row]].tolist())
            kept = sum(mass[row, j] for j in listed if j < mass.shape[1])
            total = mass[row].sum()
            positive = set(np.flatnonzero(mass[row] > 0).tolist())
            report.expect(kept >= detail["threshold"] * total * (1 - 1e-6) or positive <= listed,
                          case, f"b{b}h{h} query block {row}: selected mass {kept:.6g} below "
                          f"{detail['threshold']:g} of {total:.6g}")


@dataclasses.dataclass
class PrefillCase:
    """One sparse_attn.prefill: pattern text, its estimator mask (the
    reference of what it estimates; None for full) and attention options."""

    pattern: str
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    estimator: EstimatorMask = None
    causal: bool = True
    mask: testing.Mask = None
    block: int = None
    element_type: str = "f32"
    statistics: bool = False

    def __post_init__(self):
        for field in ("q", "k", "v"):
            setattr(self, field, ref.round_to_element_type(getattr(self, field),
                                                          self.element_type))

    def __str__(self):
        return (f"prefill {self.pattern} {'causal ' if self.causal else ''}"
                f"q{list(self.q.shape)} k{list(self.k.shape)} estimator={self.estimator!r} "
                f"mask={self.mask!r} block={self.block}")

    def _lengths(self):
        source = self.estimator
        return ((None, None) if source is None
                else (source.query_lengths, source.key_lengths))

    def reference(self):
        visible = None
        if self.estimator is not None:
            visible = self.estimator.visible()
        if self.mask is not None:
            given = np.broadcast_to(self.mask.visible(), self.q.shape[:3] + self.k.shape[2:3])
            visible = given if visible is None else visible & given
        query_lengths, key_lengths = self._lengths()
        return ref.attention(self.q, self.k, self.v, causal=self.causal, mask=visible,
                             query_lengths=query_lengths, key_lengths=key_lengths,
                             scale=None if self.estimator is None else self.estimator.scale)

    def emit(self, function):
        et = self.element_type
        operands = testing.attention_operands(function, self.q, self.k, self.v, et, self.mask)
        if self.estimator is not None:
            operands += self.estimator.extra_operands(function)
        operands += testing.length_operands(function, *self._lengths())
        if self.estimator is not None:
            operands += testing.scale_operand(self.estimator.scale)
        if self.block is not None:
            operands += f" block({self.block})"
        return testing.emit_attention_results(
            function, f"sparse_attn.prefill {self.pattern}{' causal' if self.causal else ''}",
            operands, self.q, self.k, self.v, et, self.statistics)


def check_prefill(report, case, results):
    expected_output, expected_statistics = case.reference()
    report.expect_close(case, "output", results[0], expected_output,
                        testing.TOLERANCE[case.element_type])
    if case.statistics:
        report.expect_statistics(case, "statistics", results[1], expected_statistics,
                                 testing.TOLERANCE["f32"])
