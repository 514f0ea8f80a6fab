"""The house's shape: imports point one way, and no product function outgrows a screen."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: package -> the other top-level parts it may import (besides the standard library and PyPI)
ALLOWED = {
    "captcha_core": set(),
    "client": {"captcha", "captcha_core"},
    "server": {"captcha", "captcha_core"},
    "training.synth": {"captcha_core"},
    "training.net": set(),
    "training.evaluate": {"captcha_core", "server", "training.synth"},
    "training.artifacts": {"captcha_core", "server", "training.synth", "training.net", "training.evaluate"},
    "training.fit": {"captcha_core", "training.synth", "training.net", "training.artifacts"},
}
PARTS = ("captcha", "captcha_core", "client", "server", "training.synth", "training.net", "training.fit",
         "training.artifacts", "training.evaluate")
MAX_FUNCTION_LINES = 60


def product_files():
    for package in ("captcha_core", "client", "server", "training"):
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path


def part_of(module: str) -> str | None:
    return next((p for p in sorted(PARTS, key=len, reverse=True) if module == p or module.startswith(p + ".")), None)


def imported_modules(path: Path):
    """Every module ``path`` imports, at the top or inside a function, as an absolute name."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    yield from (f"{module}.{alias.name}" for alias in node.names)
                    continue
            else:
                module = node.module
            yield module


def test_imports_point_one_way():
    wrong = []
    for path in product_files():
        own = part_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own is None or own not in ALLOWED:
            continue
        for module in imported_modules(path):
            other = part_of(module)
            if other and other != own and other not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_no_function_in_product_code_is_longer_than_a_screen():
    long = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)


def test_the_import_reader_sees_relative_and_function_level_imports():
    found = set(imported_modules(ROOT / "training" / "fit" / "finetune.py"))
    assert {"training.artifacts.export", "training.synth.eval_sets", "captcha_core.feedback"} <= found
    assert part_of("training.fit.train") == "training.fit" and part_of("captcha.v1.captcha_pb2") == "captcha"


def test_the_readme_stays_a_front_door_and_its_links_lead_somewhere():
    import re
    readme = ROOT / "README.md"
    assert len(readme.read_bytes()) <= 15 * 1024
    broken = []
    for page in [readme, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = (page.parent / target).resolve()
            if ROOT in path.parents and not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "\n".join(broken)


def test_the_accelerator_trainer_imports_no_tensorflow():
    """The lent GPU machine has JAX and no TensorFlow: ``training.fit.accel_train`` must import there."""
    import subprocess
    import sys

    import pytest
    pytest.importorskip("jax")
    code = "import sys, training.fit.accel_train; assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_architecture_counts_the_vocabulary_and_the_blank():
    from training.net.architecture import ModelConfig
    from training.net.encoding import Alphabet
    from training.synth.charset import vocabulary
    assert ModelConfig().num_classes == Alphabet(vocabulary()).num_classes
