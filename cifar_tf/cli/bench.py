"""`bench`: how fast this machine trains, measured here."""
from .common import command, data_flags


def cmd_bench(args):
    from ..bench.run import SECTIONS, run_bench

    sections = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    for section in sections or ():
        if section not in SECTIONS:
            raise ValueError(f"--only: {section!r} is not a section: expected some of " + ", ".join(SECTIONS))
    run_bench(quick=args.quick, data_dir=args.data_dir, cache_dir=args.cache_dir, sections=sections,
              write=args.write)



def add_commands(commands):
    bench = command(commands, "bench", cmd_bench, "measure training throughput, input pipelines, time to accuracy and the "
                "app's latency on this machine")
    bench.add_argument("--quick", action="store_true", help="a reduced version (about 5 minutes on 2 cores)")
    bench.add_argument("--write", nargs="?", const="docs/benchmarks.md", metavar="PATH",
                       help="also write the tables as Markdown (default path docs/benchmarks.md)")
    bench.add_argument("--only", metavar="SECTIONS", help="comma-separated: throughput, pipeline, presets, app, pages, watched")
    data_flags(bench)

