"""The command line: `python -m cifar_tf COMMAND ...`, one module per group of commands.

Each command is a thin layer over the library. Bad input ends in one line, `error: ...`, naming
the flag, the value and what is allowed, and a non-zero exit: never a traceback.
"""
import argparse
import os
import sys

from .. import settings
from ..validation import InvalidArgument
from . import bench, classroom, data, instruments, labs, lrfind, reports, runs, search, train
from .common import EXIT_ERROR, EXIT_USAGE, flag_name, message

# In the order `--help` lists them.
GROUPS = (data, train, lrfind, runs, instruments, labs, reports, bench, search, classroom)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        settings.check_environment()
        return args.handler(args) or 0
    except InvalidArgument as error:
        print(f"error: {flag_name(error.name)}: {error.value!r} is not valid: expected {error.allowed}",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, LookupError, RuntimeError) as error:
        print(f"error: {message(error)}", file=sys.stderr)
        return EXIT_ERROR


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m cifar_tf",
                                     description="CIFAR-10 Lab: train and study convolutional networks on CIFAR-10.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(commands)
    return parser
