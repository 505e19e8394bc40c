"""One rule per limit: the command line, a run's settings and the builders refuse the same value
with the same words, and accept the same largest value, because they all read one table."""
import pytest

from cifar_tf.cli import main
from cifar_tf.validation import InvalidArgument


def refusal(call):
    with pytest.raises(InvalidArgument) as refused:
        call()
    return refused.value.allowed


def command_line(capsys, *argv):
    """What `python -m cifar_tf ARGV` says on its last line of stderr, and its exit status."""
    status = main([str(arg) for arg in argv])
    return status, capsys.readouterr().err.strip().splitlines()[-1:]


@pytest.mark.parametrize("value", [0.95, -0.1])
def test_a_dropout_out_of_range_is_refused_alike_by_the_cli_the_config_and_every_builder(capsys, runs_dir, value):
    from cifar_tf.models.builders import deep_cnn, simple_cnn
    from cifar_tf.training.config import TrainConfig

    allowed = "a number from 0.0 up to 0.9"
    assert refusal(lambda: TrainConfig(dropout=value).validated()) == allowed
    assert refusal(lambda: simple_cnn(dropout=value)) == allowed
    assert refusal(lambda: deep_cnn(dropout=value)) == allowed
    status, said = command_line(capsys, "train", "--dropout", value, "--runs-dir", runs_dir)
    assert (status, said) == (2, [f"error: --dropout: '{value}' is not valid: expected {allowed}"])
    assert not list(runs_dir.iterdir())


def test_the_largest_dropout_one_accepts_every_one_builds():
    from cifar_tf.models.builders import simple_cnn
    from cifar_tf.training.config import TrainConfig, architecture_params

    config = TrainConfig(dropout=0.9).checked(build=False)
    assert simple_cnn(**architecture_params(config)).get_layer("dropout").rate == 0.9


def test_a_search_budget_out_of_range_is_refused_alike_by_the_cli_and_the_library(capsys, runs_dir):
    from cifar_tf.search import store

    assert refusal(lambda: store.check_budget(max_trials=10_001, epochs=1)) == "an integer from 1 up to 10000"
    assert store.check_budget(max_trials=10_000, epochs=1000)["max_trials"] == 10_000
    status, said = command_line(capsys, "search", "--space", "seed001", "--max-trials", 10_001,
                                "--runs-dir", runs_dir)
    assert (status, said) == (2, ["error: --max-trials: '10001' is not valid: expected an integer from 1 up to 10000"])
    # A search's epochs per trial are a run's epochs: the flag and a space file alike.
    status, said = command_line(capsys, "search", "--space", "seed001", "--epochs", 1001, "--runs-dir", runs_dir)
    assert (status, said) == (2, ["error: --epochs: '1001' is not valid: expected an integer from 1 up to 1000"])
    space = runs_dir / "space.json"
    space.write_text('{"arch": "simple_cnn", "hyperparameters": {"lr": {"type": "choice", "values": [0.1]}}, '
                     '"epochs": 1001}')
    status, said = command_line(capsys, "search", "--space", space, "--runs-dir", runs_dir)
    assert (status, said) == (2, ["error: --space: 1001 is not valid: expected epochs to be an integer from 1 up "
                                  "to 1000"])
