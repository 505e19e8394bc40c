"""`gd`, `sharpness` and `landscape`: the classroom labs from the command line."""
from .common import command, data_flags, print_json, runs_flag, table


def cmd_gd(args):
    from ..labs.gradient_descent import LIMITS, descend, get_function, parse_point, summarize

    function = get_function(args.function)
    start = parse_point(args.start) if args.start is not None else function.start
    lr = LIMITS["lr"].check("lr", args.lr if args.lr is not None else function.lr)
    steps = LIMITS["steps"].check("steps", args.steps if args.steps is not None else function.steps)
    path = descend(function, start, args.optimizer, lr, steps, momentum=args.momentum)
    result = {"function": function.name, "optimizer": args.optimizer, "start": [float(v) for v in start],
              "lr": lr, "requested_steps": steps, **summarize(function, path, steps)}
    if args.path:
        result["path"] = path.tolist()
    if args.json:
        return print_json(result)
    x, y = result["final_point"]
    print(f"{args.optimizer} on {function.name} from ({start[0]:g}, {start[1]:g}), lr {lr:g}, {steps} steps:")
    print(f"  final point ({x:.6f}, {y:.6f}), f = {result['final_value']:.6f}"
          + ("  (diverged: the path was cut where it blew up)" if result["diverged"] else ""))
    nearest = result.get("nearest_minimum")
    if nearest:
        (mx, my), distance = nearest["point"], nearest["distance"]
        print(f"  nearest known minimum ({mx:.4f}, {my:.4f}), f = {nearest['value']:.4f}, {distance:.2g} away")


def cmd_sharpness(args):
    from ..labs.measures import measure_run
    from ..runs.store import load_run

    run = load_run(args.run, args.runs_dir)
    result = measure_run(run, rho=args.rho, steps=args.steps, iterations=args.iterations, batches=args.batches,
                         batch_size=args.batch_size, seed=args.seed, data_dir=args.data_dir, refresh=args.refresh)
    if args.json:
        return print_json(result)
    print(f"{run.id}  {run.name}: training loss {result['loss']:.4f} on {result['images']} training images")
    print(f"  sharpness (rho {result['rho']:g}, {result['steps']} ascent steps): {result['sharpness']:.4f} "
          f"(the loss rises to {result['perturbed_loss']:.4f})")
    print(f"  largest Hessian eigenvalue: {result['hessian_eigenvalue']:.4g} "
          f"({result['power_iterations']} power iterations)")


def cmd_landscape(args):
    from ..labs.measures import run_landscape
    from ..runs.store import load_run

    run = load_run(args.run, args.runs_dir)
    result = run_landscape(run, dims=args.dims, points=args.points, span=args.span, batches=args.batches,
                           batch_size=args.batch_size, seed=args.seed, data_dir=args.data_dir,
                           refresh=args.refresh)
    if args.json:
        return print_json(result)
    print(f"{run.id}  {run.name}: training loss along filter-normalised random directions "
          f"({result['images']} training images)")
    if "betas" in result:
        print(table([{"b \\ a": f"{b:+.2f}", **{f"{a:+.2f}": f"{v:.3f}" for a, v in zip(result["alphas"], row)}}
                      for b, row in zip(result["betas"], result["losses"])],
                     ["b \\ a"] + [f"{a:+.2f}" for a in result["alphas"]]))
    else:
        print(table([{"a": f"{a:+.2f}", "loss": f"{v:.4f}"} for a, v in zip(result["alphas"], result["losses"])],
                     ["a", "loss"]))



def add_commands(commands):
    gd = command(commands, "gd", cmd_gd, "gradient descent on a function of two variables (the playground's engine)")
    gd.add_argument("--function", default="seed004",
                    help="seed004 (report 004's function, the default), rosenbrock, himmelblau, saddle or bowl")
    gd.add_argument("--start", help="start point x,y (default: the function's own, 0,0 for seed004); "
                                    "write --start=-1.5,2 when x is negative")
    gd.add_argument("--optimizer", default="sgd", help="sgd, momentum, nesterov, adam or rmsprop")
    gd.add_argument("--lr", help="learning rate (default: the function's own, 0.01 for seed004)")
    gd.add_argument("--steps", help="number of steps (default: the function's own, 1000 for seed004)")
    gd.add_argument("--momentum", help="momentum of momentum and nesterov (default: Keras' own)")
    gd.add_argument("--path", action="store_true", help="with --json: include every point of the path")
    gd.add_argument("--json", action="store_true")

    sharp = command(commands, "sharpness", cmd_sharpness, "a run's sharpness (loss rise within radius rho) and largest "
                "Hessian eigenvalue, on fixed training images; cached in the run folder")
    landscape = command(commands, "landscape", cmd_landscape, "a run's training loss along filter-normalised random "
                    "directions (Li et al. 2018)")
    sharp.add_argument("--rho", help="radius of the L2 ball around the weights (default 0.05)")
    sharp.add_argument("--steps", help="projected gradient ascent steps (default 5)")
    sharp.add_argument("--iterations", help="power iterations at most (default 20)")
    landscape.add_argument("--dims", default="1", help="1 (a line) or 2 (a grid)")
    landscape.add_argument("--points", help="points along each direction (default 21 in 1-D, 11 in 2-D)")
    landscape.add_argument("--span", help="how far along each direction, in filter norms (default 1)")
    for sub in (sharp, landscape):
        sub.add_argument("run", help="run id")
        sub.add_argument("--batches", help="fixed training batches to measure on (default 4)")
        sub.add_argument("--batch-size", help="images per batch (default 128)")
        sub.add_argument("--seed", help="seed of the images drawn and the random directions (default 0)")
        sub.add_argument("--refresh", action="store_true", help="compute again even if cached")
        sub.add_argument("--json", action="store_true")
        data_flags(sub)
        runs_flag(sub)
