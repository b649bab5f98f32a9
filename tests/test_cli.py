"""End-to-end tests of the `gan-jax` command, run as a user runs it."""

import re
import subprocess
import sys

import pytest

from gan_jax.cli import main

SMALL = ["--generator-widths", "16,16", "--discriminator-widths", "16"]


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gan_jax", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _without_timing(summary: str) -> str:
    return re.sub(r"in [\d.]+ s \(\d+ steps/s", "in _ s (_ steps/s", summary)


def test_train_prints_one_summary_line():
    result = run_cli("train", "--steps", "40", "--seed", "3", *SMALL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("trained 40 steps on 400 minority rows")
    assert "d_loss" in lines[0] and "g_loss" in lines[0]
    assert "Traceback" not in result.stderr


def test_train_with_the_same_seed_gives_the_same_summary():
    first = run_cli("train", "--steps", "30", "--seed", "5", *SMALL)
    second = run_cli("train", "--steps", "30", "--seed", "5", *SMALL)
    other = run_cli("train", "--steps", "30", "--seed", "6", *SMALL)
    assert _without_timing(first.stdout) == _without_timing(second.stdout)
    assert _without_timing(first.stdout) != _without_timing(other.stdout)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "required"),
        (["fit"], "invalid choice"),
        (["train", "--steps", "ten"], "--steps"),
        (["train", "--steps", "0"], "--steps"),
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--generator-widths", "64,x"], "--generator-widths"),
        (["train", "--dropout-rate", "1.5"], "dropout_rate"),
        (["train", "--latent-dim", "0"], "latent_dim"),
        (["train", "--real-target", "0", "--fake-target", "0.5"], "target"),
        (["train", "--unknown"], "unrecognized"),
    ],
)
def test_bad_input_gives_one_line_and_exit_status_2(capsys, arguments, message):
    assert main(arguments) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert message in captured.err


def test_bad_input_from_the_shell_has_no_traceback():
    result = run_cli("train", "--batch-size", "-4")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gan-jax: invalid configuration: batch_size must be a positive "
        "integer, got -4"
    ]
    assert result.stdout == ""


def test_help_lists_every_config_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--latent-dim", "--generator-widths", "--batch-size"):
        assert option in text
