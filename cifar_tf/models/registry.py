"""The architectures a run can train, by name: what each is, where it comes from, its hyperparameters.

The registry imports neither Keras nor TensorFlow: a builder's module is imported when a model is
first built, and its keyword defaults are read from the builder's source. So listing the
architectures and their hyperparameters (the Train and Search pages, `python -m cifar_tf archs`)
costs milliseconds, and only building a model pays for TensorFlow.

    model = build_model("resnet20", blocks_per_stage=2)
    ARCHITECTURES["vgg16"].defaults   # {'width': 64, ...}
"""
import ast
import importlib
import time
from dataclasses import dataclass
from pathlib import Path

from .. import NUM_CLASSES
from ..validation import InvalidArgument, check_choice
from .limits import limit

_PACKAGE = __name__.rsplit(".", 1)[0]
NOT_EDITABLE = ("num_classes", "name")


@dataclass(frozen=True)
class Architecture:
    name: str
    module: str          # the module of cifar_tf.models holding the builder
    description: str     # one line
    source: str          # paper / report / example it comes from

    def build(self, **hyperparameters):
        builder = getattr(importlib.import_module(f"{_PACKAGE}.{self.module}"), self.name)
        return builder(**hyperparameters)

    @property
    def defaults(self):
        """The builder's keyword defaults (literal values only), read from its source."""
        return dict(_DEFAULTS[self.name])


def parse_source(path, attempts=10):
    """The syntax tree of the Python file at `path`.

    CPython before 3.11.8 lets two threads' `ast.parse` trip over each other's recursion count
    ("AST constructor recursion depth mismatch", python/cpython#106905): in the app, TensorFlow's
    autograph parses source in the warm-up thread while a page reads the registry. The failure
    is transient, so parse again."""
    source = Path(path).read_text(encoding="utf-8")
    for attempt in range(attempts):
        try:
            return ast.parse(source, filename=str(path))
        except SystemError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)


def _keyword_defaults(tree, function):
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    defaults = {}
    for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults):
        if default is None:
            continue
        if isinstance(default, ast.Name) and default.id in _CONSTANTS:
            defaults[arg.arg] = _CONSTANTS[default.id]
            continue
        try:
            defaults[arg.arg] = ast.literal_eval(default)
        except ValueError:
            raise TypeError(f"the default of {function}({arg.arg}=...) must be a literal, so that the "
                            "registry can read it without importing TensorFlow") from None
    return tuple(defaults.items())


_CONSTANTS = {"NUM_CLASSES": NUM_CLASSES}   # the one name a builder's default may use


ARCHITECTURES = {arch.name: arch for arch in (
    Architecture("simple_cnn", "builders",
                 "Three-conv BN/ReLU CNN with a Dense 64 layer (about 0.12M parameters).",
                 "Report 001 (baseline CNN, Keras Tuner search over filters and dense units)"),
    Architecture("hyper_cnn", "builders",
                 "Two-conv BN/ReLU CNN, a max-pool after each conv, Dense head (Keras Tuner hypermodel).",
                 "Report 001 (build_hypermodel of its Hyperband search)"),
    Architecture("deep_cnn", "builders",
                 "VGG-style blocks of two 3x3 convs with max-pool and dropout.",
                 "Report 001 (deeper CNN with dropout)"),
    Architecture("resnet_style", "builders",
                 "Residual stages with projection shortcuts, GAP, Dense head, dropout and L2.",
                 "Report 002 (residual network)"),
    Architecture("concat_cnn", "builders",
                 "Blocks of concatenated conv pairs between max-pools, two Dense layers with dropout.",
                 "Report 004 (concatenation CNN)"),
    Architecture("fast_cnn", "builders",
                 "airbench94: whitening conv, three conv blocks (GELU, or ReLU on a CPU), "
                 "identity-initialised convs.",
                 "Keller Jordan, airbench94 (github.com/KellerJordan/cifar10-airbench)"),
    Architecture("resnet20", "builders",
                 "CIFAR ResNet-20 (6n+2 layers, 16/32/64 filters, parameter-free shortcuts).",
                 "He et al. 2016, Deep Residual Learning for Image Recognition, section 4.2"),
    Architecture("resnet18", "builders",
                 "ResNet-18 adapted to 32x32 inputs (3x3 stem, no max-pool).",
                 "He et al. 2016; CIFAR variant as in kuangliu/pytorch-cifar"),
    Architecture("vgg16", "builders",
                 "VGG-16 (configuration D) with BatchNorm for 32x32 inputs.",
                 "Simonyan & Zisserman 2015; CIFAR variant as in kuangliu/pytorch-cifar"),
    Architecture("vgg19", "builders",
                 "VGG-19 (configuration E) with BatchNorm for 32x32 inputs.",
                 "Simonyan & Zisserman 2015; CIFAR variant as in kuangliu/pytorch-cifar"),
    Architecture("mobilenetv2", "applications",
                 "keras.applications MobileNetV2 base (optionally ImageNet weights) + Dense head.",
                 "Sandler et al. 2018; keras.applications.MobileNetV2"),
    Architecture("resnet50", "applications",
                 "keras.applications ResNet50 base (optionally ImageNet weights) + Dense head.",
                 "He et al. 2016; keras.applications.ResNet50"),
    Architecture("densenet121", "applications",
                 "keras.applications DenseNet121 base (optionally ImageNet weights) + Dense head.",
                 "Huang et al. 2017; keras.applications.DenseNet121"),
    Architecture("keras_vgg19", "applications",
                 "keras.applications VGG19 base (no BatchNorm; optionally ImageNet weights) + Dense head.",
                 "Simonyan & Zisserman 2015; keras.applications.VGG19 (report 004 built it from Keras' vgg19.py)"),
)}


# Read once per process, on import: the pages import the registry before they start the warm-up
# thread, so a page's click never parses (and parse_source covers an import that races).
_TREES = {module: parse_source(Path(__file__).parent / f"{module}.py")
          for module in sorted({arch.module for arch in ARCHITECTURES.values()})}
_DEFAULTS = {arch.name: _keyword_defaults(_TREES[arch.module], arch.name) for arch in ARCHITECTURES.values()}
del _TREES


def get_architecture(name):
    """The registered Architecture called `name`."""
    check_choice("arch", name, tuple(ARCHITECTURES))
    return ARCHITECTURES[name]


def check_hyperparameter_names(name, hyperparameters):
    """Refuse a hyperparameter the builder of `name` does not take, or a number outside its limit
    (models/limits.py), with no TensorFlow needed."""
    arch = get_architecture(name)
    for key, value in hyperparameters.items():
        if key not in arch.defaults:
            raise InvalidArgument("arch_params", key,
                                  f"a hyperparameter of {name}: " + ", ".join(editable_hyperparameters(name)))
        found = limit(name, key)
        if found and value is not None:
            found.check(key, value)


def build_model(name, **hyperparameters):
    """Build architecture `name`; unknown hyperparameters raise InvalidArgument."""
    check_hyperparameter_names(name, hyperparameters)
    return get_architecture(name).build(**hyperparameters)


def count_params(name, **hyperparameters):
    """Number of parameters (trainable and not) of architecture `name` so configured."""
    return int(build_model(name, **hyperparameters).count_params())


def editable_hyperparameters(name):
    """The hyperparameters a user may set for `name`, with their defaults (not num_classes or name)."""
    return {key: value for key, value in get_architecture(name).defaults.items() if key not in NOT_EDITABLE}


def pretrained(name):
    """Whether `name` has a pretrained base that a run can freeze, then fine-tune."""
    return "freeze_base" in get_architecture(name).defaults
