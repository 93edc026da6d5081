"""The layers keep to their contracts (import-linter checks the module graph in CI; this checks names):
the window and the command line use the engine's public names only, never a `_private` one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "resnet_studio"


def _private_engine_names(source: str, package: str, name: str) -> list[str]:
    """Where code in `package` imports or uses an engine name that starts with an underscore."""
    tree = ast.parse(source)
    engine_names: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            if module.startswith("resnet_studio.engine"):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append(f"{name}:{node.lineno} imports {module}.{alias.name}")
                    engine_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("resnet_studio.engine") and alias.asname:
                    engine_names.add(alias.asname)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in engine_names
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_the_window_and_the_command_line_use_public_engine_names_only():
    sources = sorted((PACKAGE / "ui").rglob("*.py")) + sorted((PACKAGE / "cli").rglob("*.py"))
    assert len(sources) > 10
    found = []
    for path in sources:
        package = ".".join(path.relative_to(PACKAGE.parent).parts[:-1])
        found += _private_engine_names(path.read_text(encoding="utf-8"), package, path.name)
    assert found == []


def test_the_check_itself_sees_a_private_name():
    probe = (
        "from resnet_studio.engine import data\nfrom ..engine.predict import _device\n"
        "x = data._mode_to_rgb\ny = data.__name__\n"
    )
    assert len(_private_engine_names(probe, "resnet_studio.ui", "probe.py")) == 2
