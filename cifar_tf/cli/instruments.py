"""`robustness` and `evaluate --calibration`: how far a run's confidence and its accuracy can be trusted."""
from .common import data_flags, fmt, print_json, runs_flag, table


def _dataset(args):
    from ..data.cifar10 import load_cifar10

    return load_cifar10(args.data_dir, args.cache_dir)


def calibration(run, args):
    """The run's calibration report (see evaluation.calibration.run_calibration)."""
    from ..evaluation.calibration import BINS, run_calibration

    return run_calibration(run, _dataset(args), n_bins=BINS.check("bins", args.bins))


def print_calibration(report):
    before, after = report["before"], report.get("after")
    line = f"calibration on {report['count']:,} test images: ECE {before['ece']:.4f}, NLL {before['nll']:.4f}"
    if after:
        line += (f"; after temperature scaling (T = {report['temperature']:.3f}, fitted on "
                 f"{report['validation_images']:,} validation images): ECE {after['ece']:.4f}, NLL {after['nll']:.4f}")
    print(line)
    if not after:
        print(f"temperature scaling unavailable: {report['unavailable']}")
    if report.get("note"):
        print(f"note: {report['note']}")
    print(table([{"confidence": f"{b['lower']:.2f}-{b['upper']:.2f}", "images": b["count"],
                  "mean confidence": fmt(b["confidence"], 3), "accuracy": fmt(b["accuracy"], 3)}
                 for b in before["bins"]], ["confidence", "images", "mean confidence", "accuracy"]))
    print(table([{"answered": row["class"], "images": row["answers"], "confidence": fmt(row["confidence"], 3),
                  "accuracy": fmt(row["accuracy"], 3), "ECE": fmt(row["ece"], 3), "ECE after": fmt(row["ece_after"], 3)}
                 for row in report["per_class"]], ["answered", "images", "confidence", "accuracy", "ECE", "ECE after"]))


def cmd_robustness(args):
    import sys

    from ..evaluation.corruptions import CORRUPTIONS, check_corruption, parse_severities
    from ..evaluation.robustness import run_robustness
    from ..runs.store import load_run
    from ..validation import check_float

    run = load_run(args.run, args.runs_dir)
    severities = parse_severities(args.severity)
    corruptions = [check_corruption(name.strip()) for text in args.corruption or [] for name in text.split(",")
                   if name.strip()] or None
    time_limit = None if args.time_limit is None else check_float("time_limit", args.time_limit, low=0)

    def progress(done, total, text):
        if not args.json:
            print(f"  {done}/{total} {text}", file=sys.stderr, flush=True)

    result = run_robustness(run, _dataset(args), images=args.images, corruptions=corruptions, severities=severities,
                            seed=args.seed, time_limit=time_limit, progress=progress)
    if args.json:
        return print_json(result)
    print(f"{run.id}  {run.name}: {result['images']:,} test images, clean accuracy {result['clean']['accuracy']:.4f} "
          f"({result['seconds']:.1f} s)")
    columns = ["corruption", *[str(s) for s in result["severities"]], "mean"]
    rows = []
    for name in result["corruptions"]:
        row = {"corruption": CORRUPTIONS[name].label, "mean": fmt(result["summary"][name]["mean_accuracy"])}
        row.update({str(r["severity"]): fmt(r["accuracy"]) for r in result["results"] if r["corruption"] == name})
        rows.append(row)
    print("accuracy by severity:")
    print(table(rows, columns))
    if not result["complete"]:
        print(f"stopped at the time limit: {len(result['skipped'])} corruption and severity pairs not measured",
              file=sys.stderr)


def calibration_flags(evaluate):
    """`evaluate`'s flags for calibration (it needs the dataset: the test labels and the validation split)."""
    evaluate.add_argument("--calibration", action="store_true",
                          help="add the reliability diagram's bins, ECE, and ECE after temperature scaling fitted "
                               "on the run's validation split")
    evaluate.add_argument("--bins", type=int, default=10, help="confidence bins for --calibration (default 10)")
    data_flags(evaluate)


def add_commands(commands):
    from ..evaluation.corruptions import CORRUPTIONS
    from ..evaluation.robustness import DEFAULT_IMAGES
    from .common import command

    robustness = command(commands, "robustness", cmd_robustness,
                         "a run's accuracy on test images corrupted (noise, blur, JPEG, contrast, brightness, "
                         "pixelation, fog) at severities 1-5, overall and per class")
    robustness.add_argument("run", help="run id")
    robustness.add_argument("--severity", default="1-5", help="a severity 1-5, a range (1-5) or a list (1,3,5)")
    robustness.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                            help=f"test images, classes in proportion (default {DEFAULT_IMAGES:,})")
    robustness.add_argument("--corruption", action="append", metavar="NAME",
                            help="only these (repeat, or comma-separated): " + ", ".join(CORRUPTIONS))
    robustness.add_argument("--seed", type=int, default=0, help="picks the images and the random corruptions")
    robustness.add_argument("--time-limit", type=float, help="stop after this many seconds (what is measured is kept)")
    robustness.add_argument("--json", action="store_true")
    data_flags(robustness)
    runs_flag(robustness)
