"""Every flag a user can type is documented: each command's --help options appear in the README
or in a document the README links to."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every script a user runs: the top-level commands, the tools and the benchmarks
SCRIPTS = sorted(
    [p for p in ROOT.glob("*.py") if p.name != "setup.py"] + list((ROOT / "tools").glob("*.py")) + list((ROOT / "benchmarks").glob("*.py"))
)
MODULES = ["mivolo.cli.main", "mivolo.devtools.scripted"]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_-]*")


def documents() -> str:
    """README.md and every markdown file it links to."""
    readme = ROOT / "README.md"
    texts = [readme.read_text()]
    for target in re.findall(r"\]\(([^)#\s]+\.md)\)", texts[0]):
        path = (ROOT / target).resolve()
        if path.is_file():
            texts.append(path.read_text())
    return "\n".join(texts)


def help_flags(command) -> set:
    text = subprocess.run(command + ["--help"], capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
    assert "usage:" in text, f"{command} printed no help"
    return set(FLAG.findall(text)) - {"--help"}


@pytest.fixture(scope="module")
def docs():
    return documents()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_flag_of_every_script_is_documented(script, docs):
    undocumented = sorted(flag for flag in help_flags([sys.executable, str(script)]) if flag not in docs)
    assert undocumented == [], f"{script.relative_to(ROOT)}: not in README.md or a document it links to"


@pytest.mark.parametrize("module", MODULES)
def test_every_flag_of_every_module_command_is_documented(module, docs):
    undocumented = sorted(flag for flag in help_flags([sys.executable, "-m", module]) if flag not in docs)
    assert undocumented == []


def test_the_check_finds_an_undocumented_flag():
    assert "--no-such-flag-anywhere" not in documents()
    assert FLAG.findall("usage: x [--save-json] [--crop-every K] -h") == ["--save-json", "--crop-every"]
