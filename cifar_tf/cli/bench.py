"""`bench`: how fast this machine trains, measured here."""
from .common import command, data_flags


def cmd_bench(args):
    if args.gpu:
        return cmd_gpu_check(args)
    from ..bench.run import SECTIONS, run_bench

    sections = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    for section in sections or ():
        if section not in SECTIONS:
            raise ValueError(f"--only: {section!r} is not a section: expected some of " + ", ".join(SECTIONS))
    run_bench(quick=args.quick, data_dir=args.data_dir, cache_dir=args.cache_dir, sections=sections,
              write=args.write, slow_cpu=args.slow_cpu)

def cmd_gpu_check(args):
    from ..bench.gpu import SECTIONS, run_gpu_check

    if not args.out:
        raise ValueError("--gpu needs --out DIR: where the check writes gpu-check.json and gpu-check.md")
    sections = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    for section in sections or ():
        if section not in SECTIONS:
            raise ValueError(f"--only: {section!r} is not a GPU-check section: expected some of " + ", ".join(SECTIONS))
    results = run_gpu_check(args.out, cifar_copy=args.cifar_copy, data_dir=args.data_dir, tiny=args.tiny,
                            sections=sections, deadline_s=args.deadline_s)
    broken = [name for name, section in results["sections"].items() if "error" in section]
    return 1 if broken else 0


def add_commands(commands):
    bench = command(commands, "bench", cmd_bench, "measure training throughput, input pipelines, time to accuracy and the "
                "app's latency on this machine")
    bench.add_argument("--quick", action="store_true", help="a reduced version (about 5 minutes on 2 cores)")
    bench.add_argument("--write", nargs="?", const="docs/benchmarks.md", metavar="PATH",
                       help="also write the tables as Markdown (default path docs/benchmarks.md)")
    bench.add_argument("--only", metavar="SECTIONS", help="comma-separated: throughput, pipeline, presets, cli, app, pages, "
                                                          "watched (with --gpu: data, anchor, ours, class, throughput, tests)")
    bench.add_argument("--slow-cpu", action="store_true",
                       help="run the training and the app's server on one core (the browsers on the others), so the "
                            "app's share of the CPU shows as on a slower machine")
    bench.add_argument("--gpu", action="store_true",
                       help="the GPU check: the fast preset under JAX against airbench94 (PyTorch) on this GPU, a "
                            "class of 30 runs, every architecture's throughput (under 8 minutes on one H200)")
    bench.add_argument("--out", metavar="DIR", help="with --gpu: where gpu-check.json and gpu-check.md go")
    bench.add_argument("--cifar-copy", metavar="DIR", help="with --gpu: build CIFAR-10 from this copy (build.py and "
                                                           "its .npz files) into DIR/cifar")
    bench.add_argument("--deadline-s", type=float, metavar="SECONDS",
                       help="with --gpu: end the check within this many seconds (default 530; tiny 1100)")
    bench.add_argument("--tiny", action="store_true", help="with --gpu: a few hundred images, so a CPU runs the "
                                                           "check in minutes (for CI); its figures mean nothing")
    data_flags(bench)

