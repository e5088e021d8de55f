# Every program in examples/ must document its command and pass
# `sparse-attn-run --check` (generated inputs, result compared with the
# float64 oracle) on the pipeline under test: exit 0 and `check: PASS`.
#
# RUN: %python %s

import concurrent.futures
import os
import pathlib
import subprocess
import sys

import sparse_attn_testing as testing

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def check(path):
    """The failure messages of one example."""
    failures = []
    relative = f"examples/{path.name}"
    if f"// Run: sparse-attn-run {relative} --check\n" not in path.read_text():
        failures.append(f"{relative}: the header lacks `// Run: sparse-attn-run {relative} --check`")
    command = [os.environ["SPARSE_ATTN_RUN"], str(path), "--check",
               f"--pipeline={testing.pipeline()}"]
    try:
        completed = subprocess.run(command, capture_output=True, text=True,
                                   timeout=testing.RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return failures + [f"{relative}: timed out"]
    output = completed.stdout + completed.stderr
    if completed.returncode != 0 or "check: PASS" not in output:
        failures.append(f"{relative}: exit {completed.returncode}, "
                        f"{' '.join(command)}\n{output.strip()}")
    return failures


examples = sorted(EXAMPLES.glob("*.mlir"))
with concurrent.futures.ThreadPoolExecutor(2) as pool:
    failures = [failure for result in pool.map(check, examples) for failure in result]
print(f"examples: {len(examples)} programs, pipeline {testing.pipeline()}, "
      f"{len(failures)} failures")
for failure in failures:
    print(f"FAIL: {failure}")
sys.exit(1 if failures or not examples else 0)
