"""`data download` and `data info`: getting CIFAR-10 and seeing where it is."""
from .common import command, data_flags, print_json, table


def cmd_data_download(args):
    from ..data.download import TextProgress, download_cifar10

    with TextProgress() as progress:
        path = download_cifar10(args.cache_dir, progress=progress)
    print(f"CIFAR-10 is ready in {path}")


def cmd_data_info(args):
    from ..data.cifar10 import dataset_info

    info = dataset_info(data_dir=args.data_dir, cache_dir=args.cache_dir)
    if args.json:
        return print_json(info)
    print(f"CIFAR-10 found in {info['path']} ({info['source']})")
    rows = [{"class": name, "train": info["train_counts"][name], "test": info["test_counts"][name]}
            for name in info["class_names"]]
    rows.append({"class": "total", "train": info["train_size"], "test": info["test_size"]})
    print(table(rows, ["class", "train", "test"]))



def add_commands(commands):
    data = commands.add_parser("data", help="find, download and describe CIFAR-10")
    data_commands = data.add_subparsers(title="data commands", metavar="ACTION")
    download = command(data_commands, "download", cmd_data_download, "download the official archive into the cache "
                   "(or $CIFAR10_URL with $CIFAR10_MD5)")
    download.add_argument("--cache-dir", help="where to keep it (default: $CIFAR_TF_CACHE or ~/.cache/cifar_tf)")
    info = command(data_commands, "info", cmd_data_info, "where the data was found and its class counts")
    data_flags(info)
    info.add_argument("--json", action="store_true")

