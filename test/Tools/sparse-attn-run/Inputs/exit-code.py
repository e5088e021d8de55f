"""Runs a command, passes its output through and appends `exit code: N`
(negative for a signal), so that FileCheck can check the exact exit code:

  %python exit-code.py COMMAND ARGS... 2>&1 | FileCheck %s
"""

import subprocess
import sys

sys.stdout.flush()
code = subprocess.call(sys.argv[1:])
print("exit code: %d" % code)
