# Deterministic mutation fuzzer of sparse-attn-opt: every .mlir file under
# test/ and examples/ (split on `// -----`, chunks without sparse_attn ops
# skipped) is mutated (drop / duplicate a line, change a number, an extent,
# an element type or a keyword, swap two operands, truncate, delete a token)
# and each mutant is parsed and verified; when that succeeds, the printed
# output must parse again and the reference lowering (when sparse-attn-opt
# has it) runs on it. A diagnostic with a non-zero exit is fine; a signal,
# a hang, a printed crash marker (LLVM ERROR, Assertion, Stack dump,
# UNREACHABLE, PLEASE submit a bug report) or a failed round trip is a
# failure, except the known upstream MLIR crashes listed below. Each failure
# is reduced (lines, then tokens) and written to %t/failure-<n>.mlir.
#
# Environment: SPARSE_ATTN_OPT (the tool), SPARSE_ATTN_FUZZ_MUTANTS (mutants
# per file, default 32), SPARSE_ATTN_FUZZ_JOBS (parallel processes, default
# 2), SPARSE_ATTN_TEST_SEED (seed, default 0).
#
# RUN: %python %s %t

import concurrent.futures
import os
import pathlib
import random
import re
import subprocess
import sys
import zlib

OPT = os.environ["SPARSE_ATTN_OPT"]
MUTANTS_PER_FILE = int(os.environ.get("SPARSE_ATTN_FUZZ_MUTANTS", 32))
JOBS = int(os.environ.get("SPARSE_ATTN_FUZZ_JOBS", 2))
SEED = int(os.environ.get("SPARSE_ATTN_TEST_SEED", 0))
TIMEOUT_S = 60
# Failures reported (and reduced) at most; the rest are only counted.
MAX_REPORTED = 4
# Runs of sparse-attn-opt one reduction may spend.
REDUCTION_BUDGET = 400

# The first of these that `sparse-attn-opt --help` lists is the lowering.
LOWERING_FLAGS = ["--sparse-attn-reference", "--convert-sparse-attn-to-linalg"]
CRASH_MARKERS = ["LLVM ERROR", "Assertion", "Stack dump", "UNREACHABLE",
                 "PLEASE submit a bug report"]
# Crashes of upstream MLIR that mutants reach without involving sparse_attn
# code: (pattern in the mutant, reason). They are counted, not failed.
KNOWN_UPSTREAM_CRASHES = [
    (re.compile(r"array<index"),
     "the MLIR 22 parser segfaults on a dense array of index "
     "(`func.func @f() attributes {x = array<index: 1>}` crashes mlir-opt too)"),
]
STACK_FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ (.+?) \(", re.M)

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS_DIRS = [SOURCE_ROOT / "test", SOURCE_ROOT / "examples"]

# --- mutations ----------------------------------------------------------------

NUMBER = re.compile(r"(?<![\w%#@.])-?\d+(\.\d+)?([eE][-+]?\d+)?(?![\w.])")
EXTENT = re.compile(r"(?<=[<x])(\d+|\?)(?=x)|(?<=x)\d+(?=[>,])")
ELEMENT_TYPE = re.compile(r"\b(f32|bf16|f16|f64|i32|i64|i1|index)\b")
KEYWORDS = ["softmax", "entmax", "elastic_softmax", "causal", "mask", "query_lengths",
            "key_lengths", "bias", "tau", "scale", "sink", "window", "full", "block", "alpha",
            "iterations", "attention", "dense_mask", "causal_mask", "streaming_mask",
            "mask_from_indices", "mask_to_indices", "mask_union", "mask_intersect",
            "xattention_mask", "flexprefill_mask", "vertical_slash_mask", "mask_route_heads",
            "prefill", "xattention", "flexprefill", "minference", "stride", "threshold",
            "thresholds", "gamma", "min_budget", "max_budget", "vertical_size", "slash_size",
            "last_queries", "local", "budgets", "streaming", "masks", "select_blocks"]
KEYWORD = re.compile(r"\b(" + "|".join(KEYWORDS) + r")\b")
SSA_VALUE = re.compile(r"%[\w.$-]+")
TOKEN = re.compile(r"%[\w.$-]+|[\w.]+|[^\s\w]")

NUMBERS = ["0", "-1", "1", "2", "3", "9223372036854775807", "-9223372036854775808",
           "4294967296", "1.5", "0.0", "-2.5", "1.0e+300", "1e-45"]
EXTENTS = ["0", "1", "2", "3", "7", "64", "?", "4611686018427387904", "9223372036854775807"]
ELEMENT_TYPES = ["f32", "bf16", "f16", "i32", "i1", "index"]


def replace_match(rng, text, pattern, choices):
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    match = rng.choice(matches)
    return text[:match.start()] + rng.choice(choices) + text[match.end():]


def mutate_lines(rng, text, duplicate):
    lines = text.split("\n")
    index = rng.randrange(len(lines))
    lines[index:index + 1] = [lines[index]] * 2 if duplicate else []
    return "\n".join(lines)


def swap_operands(rng, text):
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if len(SSA_VALUE.findall(line)) >= 2]
    if not candidates:
        return None
    index = rng.choice(candidates)
    first, second = sorted(rng.sample(list(SSA_VALUE.finditer(lines[index])), 2),
                           key=lambda match: match.start())
    line = lines[index]
    lines[index] = (line[:first.start()] + second.group() + line[first.end():second.start()]
                    + first.group() + line[second.end():])
    return "\n".join(lines)


def delete_token(rng, text):
    tokens = list(TOKEN.finditer(text))
    match = rng.choice(tokens)
    return text[:match.start()] + text[match.end():]


MUTATIONS = [
    ("drop a line", lambda rng, text: mutate_lines(rng, text, duplicate=False)),
    ("duplicate a line", lambda rng, text: mutate_lines(rng, text, duplicate=True)),
    ("change a number", lambda rng, text: replace_match(rng, text, NUMBER, NUMBERS)),
    ("change an extent", lambda rng, text: replace_match(rng, text, EXTENT, EXTENTS)),
    ("change an element type",
     lambda rng, text: replace_match(rng, text, ELEMENT_TYPE, ELEMENT_TYPES)),
    ("change a keyword", lambda rng, text: replace_match(rng, text, KEYWORD, KEYWORDS)),
    ("swap two operands", swap_operands),
    ("truncate", lambda rng, text: text[:rng.randrange(len(text))]),
    ("delete a token", delete_token),
]


def make_mutant(rng, chunk):
    """One or two mutations (names and text); None when none applies."""
    applied = []
    for _ in range(rng.choice([1, 1, 2])):
        if not chunk.strip():  # truncated to nothing: nothing left to mutate
            break
        name, mutation = rng.choice(MUTATIONS)
        mutated = mutation(rng, chunk)
        if mutated is not None and mutated != chunk:
            applied.append(name)
            chunk = mutated
    return (applied, chunk) if applied else None


# --- running sparse-attn-opt ---------------------------------------------------


def crash_site(stderr):
    """The innermost named frame of a stack dump, past the signal handlers."""
    for frame in STACK_FRAME.findall(stderr):
        if not frame.startswith("llvm::sys::") and not frame.startswith("/"):
            return f" in {frame}"
    return ""


def run_opt(flags, text):
    """(failure description or None, exit code, stdout) of one run."""
    try:
        completed = subprocess.run([OPT, *flags, "-"], input=text, capture_output=True,
                                   text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"timed out after {TIMEOUT_S} s", None, ""
    site = crash_site(completed.stderr)
    if completed.returncode < 0:
        return f"killed by signal {-completed.returncode}{site}", completed.returncode, ""
    for marker in CRASH_MARKERS:
        if marker in completed.stderr:
            line = next(l for l in completed.stderr.splitlines() if marker in l)
            return f"printed '{line.strip()[:200]}'{site}", completed.returncode, ""
    return None, completed.returncode, completed.stdout


def check_mutant(text, lowering):
    """(verified, failure): whether the mutant verifies, and (stage, what) of
    the first failing stage or None. Stages: parse and verify; re-parse of
    the printed output; the lowering."""
    failure, code, printed = run_opt([], text)
    if failure:
        return False, ("verify", failure)
    if code != 0:
        return False, None
    failure, code, _ = run_opt([], printed)
    if failure or code != 0:
        return True, ("round trip",
                      failure or f"the printed IR does not parse again (exit {code})")
    if lowering:
        failure, _, _ = run_opt([lowering], text)
        if failure:
            return True, (lowering, failure)
    return True, None


def reduce(text, stage, lowering):
    """Removes lines, then tokens, while the same stage keeps failing."""
    budget = [REDUCTION_BUDGET]

    def still_fails(candidate):
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        failure = check_mutant(candidate, lowering)[1]
        return failure is not None and failure[0] == stage

    lines = text.split("\n")
    index = 0
    while index < len(lines):
        candidate = "\n".join(lines[:index] + lines[index + 1:])
        if still_fails(candidate):
            lines = lines[:index] + lines[index + 1:]
        else:
            index += 1
    text = "\n".join(lines)
    index = 0
    while True:
        tokens = list(TOKEN.finditer(text))
        if index >= len(tokens):
            return text
        candidate = text[:tokens[index].start()] + text[tokens[index].end():]
        if still_fails(candidate):
            text = candidate
        else:
            index += 1


# --- driver ----------------------------------------------------------------------


def corpus_chunks():
    """(file, chunk index, text) of every chunk with a sparse_attn op; comment
    lines dropped (they are RUN/CHECK lines, irrelevant to the parser)."""
    for directory in CORPUS_DIRS:
        for path in sorted(directory.rglob("*.mlir")):
            relative = path.relative_to(SOURCE_ROOT).as_posix()
            chunks = re.split(r"^// -----.*$", path.read_text(), flags=re.M)
            for index, chunk in enumerate(chunks):
                lines = [l for l in chunk.split("\n") if not l.lstrip().startswith("//")]
                text = "\n".join(lines).strip() + "\n"
                if "sparse_attn." in text:
                    yield relative, index, text


def main():
    workdir = pathlib.Path(sys.argv[1])
    workdir.mkdir(parents=True, exist_ok=True)
    help_text = subprocess.run([OPT, "--help"], capture_output=True, text=True).stdout
    lowering = next((flag for flag in LOWERING_FLAGS if f"{flag} " in help_text), None)

    by_file = {}
    for relative, index, text in corpus_chunks():
        by_file.setdefault(relative, []).append((index, text))
    mutants = []
    for relative, chunks in by_file.items():
        rng = random.Random(zlib.crc32(f"{SEED}:{relative}".encode()))
        for number in range(MUTANTS_PER_FILE):
            index, chunk = chunks[number % len(chunks)]
            mutant = make_mutant(rng, chunk)
            if mutant:
                mutants.append((f"{relative} chunk {index}", *mutant))

    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        results = list(pool.map(lambda m: check_mutant(m[2], lowering), mutants))

    failures, known = [], {}
    for mutant, (_, failure) in zip(mutants, results):
        if failure is None:
            continue
        reason = next((reason for pattern, reason in KNOWN_UPSTREAM_CRASHES
                       if pattern.search(mutant[2])), None)
        if reason:
            known[reason] = known.get(reason, 0) + 1
        else:
            failures.append((mutant, failure))
    verified = sum(verified for verified, _ in results)
    print(f"mutation-fuzz: seed {SEED}, {len(by_file)} files, {len(mutants)} mutants "
          f"({verified} verify), lowering {lowering or '(none registered)'}, "
          f"{len(failures)} failures")
    for reason, count in known.items():
        print(f"  {count} known upstream crashes (not failures): {reason}")
    reported = {}
    for (origin, applied, text), (stage, failure) in failures:
        signature = (stage, failure)
        if signature in reported or len(reported) >= MAX_REPORTED:
            continue
        reduced = reduce(text, stage, lowering)
        path = workdir / f"failure-{len(reported)}.mlir"
        path.write_text(reduced)
        reported[signature] = path
        command = {"verify": f"sparse-attn-opt {path}",
                   "round trip": f"sparse-attn-opt {path} | sparse-attn-opt"}.get(
                       stage, f"sparse-attn-opt {stage} {path}")
        print(f"\nFAIL ({stage}): {failure}\n  from {origin} after {', '.join(applied)}\n"
              f"  reproduce: {command}\n  reduced mutant:\n{reduced}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
