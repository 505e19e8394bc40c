"""`lrfind`: a learning-rate range test, trained here and now as `train` trains a run."""
import sys

from ..validation import InvalidArgument
from .common import EXIT_ERROR, command, print_json
from .train import config_from_args, train_flags


def cmd_lrfind(args):
    from ..data.cifar10 import find_dataset
    from ..training.config import check_config
    from ..training.lrfind import RangeTest, check_range_config, points_of

    config = check_range_config(check_config(config_from_args(args), build=False))
    test = RangeTest(start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps,
                     divergence=args.divergence).validated()
    if args.repeat != 1:
        raise InvalidArgument("repeat", args.repeat, "1 for a range test")
    find_dataset(args.data_dir, args.cache_dir)
    from ..training.range_test import range_test

    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    run = range_test(config, test, runs_dir=args.runs_dir, data_dir=args.data_dir, cache_dir=args.cache_dir,
                     name=args.name, log=log)
    found = run.record.get("lrfind") or {}
    if args.json:
        print_json({"run": run.id, "status": run.status, "error": run.record.get("error"),
                    **{key: found.get(key) for key in ("suggested", "rule", "valley", "steepest", "ended")},
                    "settings": test.to_dict(), "points": points_of(run)})
    elif found.get("suggested") is not None:
        print(f"suggested learning rate {found['suggested']:.3g} ({found['rule']}); valley {found['valley']:.3g}, "
              f"steepest {found['steepest']:.3g}; {found['ended']}")
        print(f"saved in {run.path}")
    return 0 if run.status == "completed" else EXIT_ERROR


def add_commands(commands):
    lrfind = command(commands, "lrfind", cmd_lrfind, "a learning-rate range test: train briefly while the rate rises "
                                                     "exponentially, and suggest one")
    train_flags(lrfind)
    from ..training.lrfind import RangeTest   # light: no Keras

    default = RangeTest()   # the flags' defaults; RangeTest.validated checks them against lrfind.LIMITS
    lrfind.add_argument("--start-lr", type=float, default=default.start_lr, metavar="RATE",
                        help=f"the first rate (default {default.start_lr:g})")
    lrfind.add_argument("--end-lr", type=float, default=default.end_lr, metavar="RATE",
                        help=f"the last rate (default {default.end_lr:g})")
    lrfind.add_argument("--steps", type=int, default=default.steps, metavar="N",
                        help=f"steps from the first to the last ({default.steps})")
    lrfind.add_argument("--divergence", type=float, default=default.divergence, metavar="X",
                        help=f"stop once the smoothed loss passes X times its best ({default.divergence:g})")
    lrfind.add_argument("--json", action="store_true", help="print the suggestions and every point as JSON")
