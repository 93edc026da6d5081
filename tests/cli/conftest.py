"""Fixtures for the command-line tests: a tiny dataset, one trained run, subprocess env."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from pathlib import Path

import pytest
import torch

from resnet_studio import cli
from resnet_studio.engine import demo

REPO = Path(__file__).resolve().parents[2]
TINY_TRAIN = ["--weights", "none", "--image-size", "32", "--epochs", "1", "--batch-size", "8",
              "--device", "cpu", "--workers", "0", "--seed", "0",
              "--stem", "imagenet"]  # the small stem (auto from scratch below 96 px) costs 16x the compute


class BoobyTrap:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """4 classes x 8 generated 32 px images, plus one file that is not an image."""
    root = demo.make_demo_dataset(tmp_path_factory.mktemp("data") / "shapes", per_class=8, image_size=32)
    (root / "dots" / "broken.png").write_bytes(b"not a png at all")
    return root


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def trained_run(demo_dir, tmp_path_factory):
    """One finished 1-epoch run: (run_dir, exit code, stdout, stderr)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code, out, err = run_main(["train", demo_dir, *TINY_TRAIN, "--out", tmp_path_factory.mktemp("runs")])
    finally:
        torch.set_num_threads(before)
    assert code == 0, err
    return Path(out.strip().splitlines()[-1]), code, out, err


@pytest.fixture
def booby_trap(tmp_path):
    """(path of a .pt whose unpickling would create `marker`, marker)."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"model": BoobyTrap(marker)}, path)
    return path, marker


@pytest.fixture(scope="session")
def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def run_cli():
    """main(argv) in this process: (exit code, stdout, stderr)."""
    return run_main


@pytest.fixture(scope="session")
def tiny_train():
    """train options for a run of a second or two on the CPU."""
    return list(TINY_TRAIN)


@pytest.fixture(scope="session")
def python_cmd():
    """`python -m resnet_studio ARGS...` as a subprocess argument list."""
    return lambda *args: [sys.executable, "-m", "resnet_studio", *map(str, args)]


def _default_signal_handlers() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.fixture(scope="session")
def as_from_a_terminal():
    """Popen(preexec_fn=...): the child starts with SIGINT, SIGTERM and SIGHUP at their defaults,
    as from a terminal, even when pytest itself was started with them ignored (a background
    job, nohup, some CI runners): an ignored signal is inherited, and the studio leaves it ignored."""
    return _default_signal_handlers


@pytest.fixture
def ctrl_c_reaches_the_process():
    """SIGINT handled as in a process started from a terminal, for the test, when pytest was
    started with it ignored; the handler it had is put back afterwards."""
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
