"""benchmarks/gpu_check.py: its help, the no-GPU exit, running each check in a process of its
own (a check that raises, dies or overruns its budget), and every check end to end with
tiny sizes on the CPU (the hidden --smoke-cpu)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
CHECKS = ["precision", "oom", "resume", "export-torchscript", "export-onnx", "latency", "throughput"]


def gpu_check(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def module():
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = mod  # its dataclasses look their module up
    path = list(sys.path)
    try:
        spec.loader.exec_module(mod)  # (puts benchmarks/ on sys.path, as the script does)
        yield mod
    finally:
        del sys.modules["gpu_check"]
        sys.path[:] = path


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """check -> {result, measured, target, status} from the Markdown table."""
    lines = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    rows = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip().removeprefix("| ").removesuffix(" |").split(" | ")]
        assert len(cells) == len(header), line
        rows[cells[0]] = dict(zip(header[1:], cells[1:]))
    return rows


def test_help_says_what_it_checks_the_targets_and_the_exit_codes():
    proc = gpu_check("--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for words in ("CUDA", "exit codes", "0 every check passed", "1 a check failed or a", "2 no NVIDIA GPU",
                  "5,000 img/s", "3,000 img/s", "below target", "8", "--quick", "--only", "--output"):
        assert words in text, words
    assert all(name in text for name in CHECKS)
    assert "--smoke-cpu" not in text and "--child" not in text


def test_without_cuda_it_says_so_in_one_line_and_exits_2():
    proc = gpu_check(env={"CUDA_VISIBLE_DEVICES": ""})  # no GPU here, and none seen on a machine that has one
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("gpu_check needs an NVIDIA GPU with CUDA; none is available here (torch ")


def test_an_unknown_check_is_refused():
    proc = gpu_check("--only", "precision,speed")
    assert proc.returncode == 2 and "unknown check(s): speed" in proc.stderr


def fake_args(tmp_path) -> argparse.Namespace:
    return argparse.Namespace(work=tmp_path, smoke_cpu=True, quick=False)


def test_a_check_past_its_budget_is_ended_with_what_it_started(module, tmp_path, monkeypatch):
    pid_file = tmp_path / "grandchild.pid"
    hang = tmp_path / "hang.py"  # stands for a check: starts a process of its own, then hangs
    hang.write_text(
        "import pathlib, subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    monkeypatch.setattr(module, "__file__", str(hang))
    started = time.perf_counter()
    row = module.run_check("latency", module.SMOKE, fake_args(tmp_path), timeout=2)
    assert time.perf_counter() - started < 10
    assert row.status == "failed" and row.result == "did not finish within its time budget of 2 s"
    stat = Path(f"/proc/{pid_file.read_text()}/stat")
    for _ in range(50):  # killed with its parent's process group: gone, or a zombie waiting for init
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the process the check started is still running")


def test_a_check_that_dies_without_reporting_fails_with_its_exit_code(module, tmp_path, monkeypatch):
    dies = tmp_path / "dies.py"
    dies.write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(module, "__file__", str(dies))
    row = module.run_check("resume", module.SMOKE, fake_args(tmp_path), timeout=30)
    assert row.status == "failed" and "exit code 3" in row.result


def test_a_check_that_raises_reports_its_reason_in_one_line(module, tmp_path, monkeypatch):
    def broken(plan, work):
        raise RuntimeError("plain_loop.py failed (1):\nTraceback...\nZeroDivisionError: float division by zero")

    monkeypatch.setitem(module.CHECKS, "latency", module.Check(broken))
    args = argparse.Namespace(child="latency", row_file=str(tmp_path / "row.json"), work=str(tmp_path), smoke_cpu=True,
                              quick=False)
    module.child(args)
    row = json.loads((tmp_path / "row.json").read_text())
    assert row["status"] == "failed"
    assert row["result"] == ("RuntimeError: plain_loop.py failed (1): ... ZeroDivisionError: float division by zero")


def test_every_check_runs_on_the_cpu_with_tiny_sizes(tmp_path):
    output = tmp_path / "table.md"
    started = time.perf_counter()
    proc = gpu_check("--smoke-cpu", "--work", str(tmp_path / "work"), "--output", str(output), timeout=280)
    seconds = time.perf_counter() - started
    assert output.read_text() == proc.stdout.rstrip("\n") + "\n", proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    assert list(rows) == CHECKS, proc.stderr[-3000:]
    onnx = importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime")
    expected = {name: "passed" for name in CHECKS}
    expected["oom"] = "skipped (CUDA only: it fills a GPU's memory)"
    if not onnx:
        expected["export-onnx"] = rows["export-onnx"]["status"]
        assert expected["export-onnx"].startswith("skipped (onnx")
    statuses = {name: row["status"] for name, row in rows.items()}
    assert statuses == expected, "\n".join(f"{n}: {r['result']}" for n, r in rows.items()) + proc.stderr[-3000:]
    assert proc.returncode == 0
    # what the rows say
    assert "each computed in the dtype asked for" in rows["precision"]["result"]
    assert rows["resume"]["measured"].startswith("weights differ by ")
    assert re.match(r"top-1 the same on (\d+)/\1;", rows["export-torchscript"]["measured"])
    assert "ResNet-18" in rows["latency"]["measured"] and "ResNet-50" in rows["latency"]["measured"]
    assert rows["throughput"]["measured"].startswith("epoch 1: ") and "plain fp32 loop" in rows["throughput"]["result"]
    assert "GPU decoding: skipped (CUDA only)" in rows["throughput"]["result"]
    progress = proc.stderr
    assert all(f"{name}: " in progress for name in CHECKS)
    print(f"smoke run: {seconds:.0f} s")
