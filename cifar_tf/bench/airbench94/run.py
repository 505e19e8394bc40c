"""airbench94's training run, timed as the original times it, and its command line (see the package)."""
import argparse
import functools
import json
import platform
import statistics
import sys
import time
from math import ceil


from .net import _DTYPES, _airbench, hyp, load_cifar10_arrays
############################################
#                 Logging                  #
############################################

def print_columns(columns_list, is_head=False, is_final_entry=False, log=print):
    print_string = ''
    for col in columns_list:
        print_string += '|  %s  ' % col
    print_string += '|'
    if is_head:
        log('-'*len(print_string))
    log(print_string)
    if is_head or is_final_entry:
        log('-'*len(print_string))

logging_columns_list = ['run   ', 'epoch', 'train_loss', 'train_acc', 'val_acc', 'tta_val_acc', 'total_time_seconds']
def print_training_details(variables, is_final_entry, log=print):
    formatted = []
    for col in logging_columns_list:
        var = variables.get(col.strip(), None)
        if type(var) in (int, str):
            res = str(var)
        elif type(var) is float:
            res = '{:0.4f}'.format(var)
        else:
            assert var is None
            res = ''
        formatted.append(res.rjust(len(col)))
    print_columns(formatted, is_final_entry=is_final_entry, log=log)


############################################
#                 Timing                   #
############################################

class _Timer:
    """airbench's `starter`/`ender` CUDA events with synchronize(); on the CPU, where every op has
    finished when it returns, the same two marks are perf_counter() readings."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, torch.device(device).type == 'cuda'
        if self.cuda:
            self.starter = torch.cuda.Event(enable_timing=True)
            self.ender = torch.cuda.Event(enable_timing=True)

    def start(self):
        if self.cuda:
            self.starter.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self):
        """Seconds since start(), after waiting for the device."""
        if self.cuda:
            self.ender.record()
            self.torch.cuda.synchronize()
            return 1e-3 * self.starter.elapsed_time(self.ender)
        return time.perf_counter() - self.t0


def _sync(torch, device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


############################################
#                Training                  #
############################################

def main(run, ab, train_arrays, test_arrays, *, device, dtype, epochs, batch_size, models=None, log=print):
    """One airbench run: its main(), merged from airbench94.py (models=None: a fresh model) and
    airbench94_compiled.py (models=(trainbias, freezebias), compiled once and reinitialised here).
    Returns (tta_val_acc, val_acc, train_seconds, tta_seconds)."""
    torch, nn = ab.torch, ab.torch.nn

    momentum = hyp['opt']['momentum']
    # Assuming gradients are constant in time, for Nesterov momentum, the below ratio is how much
    # larger the default steps will be than the underlying per-example gradients. We divide the
    # learning rate by this ratio in order to ensure steps are the same scale as gradients, regardless
    # of the choice of momentum.
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = hyp['opt']['lr'] / kilostep_scale # un-decoupled learning rate for PyTorch SGD
    wd = hyp['opt']['weight_decay'] * batch_size / kilostep_scale
    lr_biases = lr * hyp['opt']['bias_scaler']

    loss_fn = nn.CrossEntropyLoss(label_smoothing=hyp['opt']['label_smoothing'], reduction='none')
    test_loader = ab.CifarLoader(test_arrays, train=False, batch_size=2000, device=device, dtype=dtype)
    train_loader = ab.CifarLoader(train_arrays, train=True, batch_size=batch_size, aug=hyp['aug'],
                                  device=device, dtype=dtype)
    if run == 'warmup':
        # The only purpose of the first run is to warmup (the compiled model), so we can use dummy data
        train_loader.labels = torch.randint(0, 10, size=(len(train_loader.labels),), device=train_loader.labels.device)
    total_train_steps = ceil(len(train_loader) * epochs)
    # (Not in the original: with fewer than batch_size images (--limit) drop_last leaves no batch.)
    if total_train_steps < 1:
        raise ValueError('need at least %d training images for one step' % batch_size)

    def make_optimizer(model, only_trainable):
        # airbench94.py filters on requires_grad; airbench94_compiled.py passes every parameter and
        # relies on SGD skipping those whose grad stays None. Both are kept as they were.
        keep = (lambda p: p.requires_grad) if only_trainable else (lambda p: True)
        norm_biases = [p for k, p in model.named_parameters() if 'norm' in k and keep(p)]
        other_params = [p for k, p in model.named_parameters() if 'norm' not in k and keep(p)]
        param_configs = [dict(params=norm_biases, lr=lr_biases, weight_decay=wd/lr_biases),
                         dict(params=other_params, lr=lr, weight_decay=wd/lr)]
        return torch.optim.SGD(param_configs, momentum=momentum, nesterov=True)

    def get_lr(step):
        warmup_steps = int(total_train_steps * 0.23)
        warmdown_steps = total_train_steps - warmup_steps
        if step < warmup_steps:
            frac = step / warmup_steps
            return 0.2 * (1 - frac) + 1.0 * frac
        else:
            frac = (step - warmup_steps) / warmdown_steps
            return 1.0 * (1 - frac) + 0.07 * frac

    if models is None:
        model = ab.make_net(device, dtype)
        optimizer = make_optimizer(model, only_trainable=True)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, get_lr)
        model_trainbias = model
        whiten_layer = model[0]
    else:
        model_trainbias, model_freezebias = models
        # Reinitialize the network from scratch - nothing is reused from previous runs besides the PyTorch compilation
        ab.reinit_net(model_trainbias)
        optimizer_trainbias = make_optimizer(model_trainbias, only_trainable=False)
        optimizer_freezebias = make_optimizer(model_freezebias, only_trainable=False)
        scheduler_trainbias = torch.optim.lr_scheduler.LambdaLR(optimizer_trainbias, get_lr)
        scheduler_freezebias = torch.optim.lr_scheduler.LambdaLR(optimizer_freezebias, get_lr)
        whiten_layer = model_trainbias._orig_mod[0]
    current_steps = 0

    alpha_schedule = 0.95**5 * (torch.arange(total_train_steps+1) / total_train_steps)**3
    lookahead_state = ab.LookaheadState(model_trainbias)

    # For accurately timing GPU code
    timer = _Timer(torch, device)
    total_time_seconds = 0.0

    # Initialize the whitening layer using training images
    timer.start()
    train_images = train_loader.normalize(train_loader.images[:5000])
    ab.init_whitening_conv(whiten_layer, train_images)
    total_time_seconds += timer.stop()

    for epoch in range(ceil(epochs)):

        if models is None:
            model[0].bias.requires_grad = (epoch < hyp['opt']['whiten_bias_epochs'])
        # After training the whiten bias for some epochs, swap in the compiled model with frozen bias
        elif epoch == 0:
            model = model_trainbias
            optimizer = optimizer_trainbias
            scheduler = scheduler_trainbias
        elif epoch == hyp['opt']['whiten_bias_epochs']:
            model = model_freezebias
            optimizer = optimizer_freezebias
            scheduler = scheduler_freezebias
            model.load_state_dict(model_trainbias.state_dict())
            optimizer.load_state_dict(optimizer_trainbias.state_dict())
            scheduler.load_state_dict(scheduler_trainbias.state_dict())

        ####################
        #     Training     #
        ####################

        timer.start()

        model.train()
        for inputs, labels in train_loader:

            outputs = model(inputs)
            loss = loss_fn(outputs, labels).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()

            current_steps += 1

            if current_steps % 5 == 0:
                lookahead_state.update(model, decay=alpha_schedule[current_steps].item())

            if current_steps >= total_train_steps:
                if lookahead_state is not None:
                    lookahead_state.update(model, decay=1.0)
                break

        total_time_seconds += timer.stop()

        ####################
        #    Evaluation    #
        ####################

        # Save the accuracy and loss from the last training batch of the epoch
        train_acc = (outputs.detach().argmax(1) == labels).float().mean().item()
        train_loss = loss.item() / batch_size
        val_acc = ab.evaluate(model, test_loader, tta_level=0)
        print_training_details(locals(), is_final_entry=False, log=log)
        run = None # Only print the run number once

    train_seconds = total_time_seconds

    ####################
    #  TTA Evaluation  #
    ####################

    timer.start()
    tta_val_acc = ab.evaluate(model, test_loader, tta_level=hyp['net']['tta_level'])
    tta_seconds = timer.stop()
    total_time_seconds += tta_seconds

    epoch = 'eval'
    print_training_details(locals(), is_final_entry=True, log=log)

    return tta_val_acc, val_acc, train_seconds, tta_seconds


def run_airbench94(data_dir, *, runs=1, device="cuda", compile=True, epochs=None, log=print,
                   limit=None, dtype=None, compile_mode="max-autotune", batch_size=None):
    """airbench94's __main__: a warm-up run (on random labels; it compiles when `compile`), then
    `runs` timed runs, each training a fresh network from scratch.

    data_dir: the folder holding `cifar-10-batches-py/` (or that folder itself).
    runs: timed runs after the warm-up (at least 1: compile_seconds needs one to subtract).
    device: "cuda", "cuda:N" or "cpu".
    compile: torch.compile(mode=compile_mode) as airbench94_compiled.py; ignored on the CPU.
    epochs: training epochs (default hyp's 9.9; fractional as in airbench).
    log: where the per-epoch table goes (print); None for silence.
    limit: keep only the first `limit` training and the first `limit` test images.
    dtype: weights and activations; default "half" on CUDA (the original), "float32" on the CPU.
    compile_mode: torch.compile's mode; "max-autotune" is airbench's (minutes of autotuning).
    batch_size: default hyp's 1024; smaller only for tests on a few hundred images (the last
        partial batch is dropped, as in airbench). lr and wd stay airbench's decoupled values.

    Returns {"train_seconds": [...], "accuracy": [...] (TTA), "accuracy_no_tta": [...],
    "compile_seconds": float, "epochs": float, "torch": version, "device": name}, plus
    "tta_seconds", "total_seconds" (airbench's printed figure: train + TTA), "wall_seconds"
    (each run, end to end), "warmup_wall_seconds", "compiled", "dtype", "train_images",
    "test_images". train_seconds is airbench's clock without the final TTA evaluation: the
    whitening initialisation plus the training loops, per-epoch evaluation excluded as there.
    """
    import torch

    if runs < 1:
        raise ValueError("runs must be at least 1")
    log = log or (lambda *_: None)
    dev = torch.device(device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available; use device='cpu'")
    dtype_name = _DTYPES[dtype or ('half' if dev.type == 'cuda' else 'float32')]
    torch_dtype = getattr(torch, dtype_name)
    epochs = float(hyp['opt']['train_epochs'] if epochs is None else epochs)
    batch_size = int(batch_size or hyp['opt']['batch_size'])
    compiled = bool(compile) and dev.type == 'cuda'
    if compile and not compiled:
        log("airbench94: torch.compile is used on CUDA only; running eagerly on %s" % dev.type)

    torch.backends.cudnn.benchmark = True
    ab = _airbench()
    train_arrays = load_cifar10_arrays(data_dir, train=True, limit=limit)
    test_arrays = load_cifar10_arrays(data_dir, train=False, limit=limit)

    models = None
    if compiled:
        # These two compiled models are first warmed up, and then reinitialized every run. No learned
        # weights are reused between runs. To implement freezing of the whitening-layer bias parameter
        # midway through training, we use two compiled models, one with trainable and the other with
        # frozen whitening bias. This is faster than the naive approach of setting requires_grad=False
        # on the whitening bias midway through training on a single compiled model.
        model_trainbias = ab.make_net(dev, torch_dtype)
        model_freezebias = ab.make_net(dev, torch_dtype)
        model_freezebias[0].bias.requires_grad = False
        model_trainbias = torch.compile(model_trainbias, mode=compile_mode)
        model_freezebias = torch.compile(model_freezebias, mode=compile_mode)
        models = (model_trainbias, model_freezebias)

    def one(run):
        _sync(torch, dev)
        t0 = time.perf_counter()
        out = main(run, ab, train_arrays, test_arrays, device=dev, dtype=torch_dtype, epochs=epochs,
                   batch_size=batch_size, models=models, log=log)
        _sync(torch, dev)
        return out + (time.perf_counter() - t0,)

    print_columns(logging_columns_list, is_head=True, log=log)
    warmup_wall = one('warmup')[-1]
    results = [one(run) for run in range(runs)]
    tta, plain, train_s, tta_s, wall = (list(col) for col in zip(*results))
    if dev.type == 'cuda':
        name = torch.cuda.get_device_name(dev)
    else:
        name = 'cpu: %s (%d threads)' % (platform.processor() or platform.machine(), torch.get_num_threads())
    return {
        "train_seconds": train_s,
        "accuracy": tta,
        "accuracy_no_tta": plain,
        "compile_seconds": warmup_wall - statistics.mean(wall),
        "epochs": epochs,
        "torch": torch.__version__,
        "device": name,
        "tta_seconds": tta_s,
        "total_seconds": [a + b for a, b in zip(train_s, tta_s)],
        "wall_seconds": wall,
        "warmup_wall_seconds": warmup_wall,
        "compiled": compiled,
        "compile_mode": compile_mode if compiled else None,
        "batch_size": batch_size,
        "dtype": dtype_name,
        "train_images": int(len(train_arrays[1])),
        "test_images": int(len(test_arrays[1])),
    }


def _summary(result):
    def stats(xs, fmt):
        if len(xs) == 1:
            return fmt % xs[0]
        return (fmt + ' ± ' + fmt) % (statistics.mean(xs), statistics.stdev(xs))
    rows = [
        ("device", result["device"]),
        ("torch", "%s (%s, %s)" % (result["torch"], result["dtype"],
                                   "compiled" if result["compiled"] else "eager")),
        ("data", "%d train / %d test images, %g epochs" % (result["train_images"], result["test_images"],
                                                         result["epochs"])),
        ("runs", str(len(result["accuracy"]))),
        ("train seconds", stats(result["train_seconds"], "%.3f")),
        ("+ TTA seconds", stats(result["tta_seconds"], "%.3f")),
        ("TTA accuracy", stats(result["accuracy"], "%.4f")),
        ("no-TTA accuracy", stats(result["accuracy_no_tta"], "%.4f")),
        ("compile seconds", "%.1f" % result["compile_seconds"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join("%s  %s" % (k.ljust(width), v) for k, v in rows)


def cli(argv=None):
    ap = argparse.ArgumentParser(prog="python -m cifar_tf.bench.airbench94",
                                 description="airbench94 (Keller Jordan) in PyTorch, timed as airbench times it.")
    ap.add_argument("data_dir", help="folder holding cifar-10-batches-py/ (the official python layout)")
    ap.add_argument("--runs", type=int, default=1, help="timed runs after the warm-up (default 1)")
    ap.add_argument("--no-compile", action="store_true", help="eager PyTorch (airbench94.py) instead of torch.compile")
    ap.add_argument("--compile-mode", default="max-autotune", help="torch.compile mode (default max-autotune, as airbench)")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), help="default: half on CUDA, float32 on the CPU")
    ap.add_argument("--epochs", type=float, help="default 9.9")
    ap.add_argument("--limit", type=int, help="only the first N training and N test images")
    ap.add_argument("--batch-size", type=int, help="default 1024 (airbench's); smaller only for tiny tests")
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch table")
    args = ap.parse_args(argv)
    result = run_airbench94(args.data_dir, runs=args.runs, device=args.device, compile=not args.no_compile,
                            epochs=args.epochs, limit=args.limit, dtype=args.dtype, batch_size=args.batch_size,
                            compile_mode=args.compile_mode,
                            log=None if args.quiet else functools.partial(print, flush=True))
    print(_summary(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
