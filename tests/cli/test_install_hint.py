"""The hint for what ONNX export lacks works where it is given: from a source checkout
(`pip install -e '.[export]'`) and from an installed package (the packages themselves: the
project is not on a package index, so `pip install 'resnet-studio[export]'` finds nothing)."""

from __future__ import annotations

import sys

from resnet_studio import installation


def test_from_a_checkout_the_extra_of_the_checkout(monkeypatch, tmp_path):
    checkout = installation.source_checkout()
    assert checkout is not None and (checkout / "pyproject.toml").is_file()  # the tests run from one
    monkeypatch.chdir(checkout)
    assert installation.install_command("export", ["onnx", "onnxruntime"]).endswith("-m pip install -e '.[export]'")
    monkeypatch.chdir(tmp_path)  # elsewhere: the checkout's path, so that it works from there too
    assert installation.install_command("export", ["onnx"]).endswith(f"-m pip install -e '{checkout}[export]'")


def test_from_an_installed_package_the_packages(monkeypatch):
    monkeypatch.setattr(installation, "source_checkout", lambda: None)
    assert installation.install_command("export", ["onnx", "onnxruntime"]).endswith("-m pip install onnx onnxruntime")


def test_the_python_that_runs_the_studio(monkeypatch):
    monkeypatch.setattr(installation.shutil, "which", lambda name: sys.executable)
    assert installation.python_command() == "python"
    monkeypatch.setattr(installation.shutil, "which", lambda name: "/usr/bin/python-somewhere-else")
    assert installation.python_command() == sys.executable  # a virtual environment that is not activated


def test_export_and_its_help_give_the_hint(run_cli, trained_run, monkeypatch):
    from resnet_studio.engine import export

    hint = installation.install_command("export", ["onnxruntime"])
    monkeypatch.setattr(export, "missing_packages", lambda fmt: ["onnxruntime"])
    code, out, err = run_cli(["export", trained_run[0], "--format", "onnx"])
    assert code == 2 and err.strip() == f"resnet-studio: error: ONNX export needs onnxruntime: install with {hint}"
    assert "resnet-studio[export]" not in err
    code, out, _ = run_cli(["export", "--help"])
    assert "resnet-studio[export]" not in out and "[export]" in out.replace("\n", "")
