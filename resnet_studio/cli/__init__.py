"""`resnet-studio`: the studio window, or the same engine headless.

    resnet-studio                      open the studio
    resnet-studio train DATA [options] train; prints the run folder at the end
    resnet-studio predict MODEL IMAGE_OR_DIR... [--topk K] [--json] [--csv FILE] [--cam OUT_DIR]
    resnet-studio evaluate MODEL [DATA] [--json]
    resnet-studio info [--depth D] [--image-size S] [--json]
    resnet-studio demo-data OUT_DIR
    resnet-studio export MODEL --format onnx|torchscript [--out FILE]
    resnet-studio install-desktop [--remove]

Exit status: 0 success; 1 a training run that failed; 2 bad usage or bad input (one
line on stderr, no traceback); 130 a training run stopped by Ctrl+C, SIGTERM or SIGHUP.
The parser (parser.py) needs no torch, so `--help` is quick; the commands
(commands.py, train.py) import the engine when they run.
"""

from __future__ import annotations

import os
import sys

from .console import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROG, UsageError, error
from .parser import build_parser

__all__ = ["main", "build_parser", "PROG", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_CANCELLED"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from ..engine.errors import OutOfMemory, StudioError, WeightsUnavailableError

    try:
        return args.func(args)
    except OutOfMemory as exc:  # not bad input: the machine could not do it
        error(str(exc))
        return EXIT_FAILED
    except WeightsUnavailableError as exc:  # the ways on, as options
        return error(f"{exc} (--weights PATH, or --weights none)")
    except (StudioError, UsageError) as exc:
        return error(str(exc))
    except BrokenPipeError:  # `resnet-studio predict ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
