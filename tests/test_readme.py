"""The README's map of the package is true: every module it names exists, every package module is on it."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_file_the_where_things_go_table_names_exists():
    table = README[README.index("**Where things go**"):README.index("## Notebooks")]
    paths = set(re.findall(r"`([a-z_/]+\.py)`", table))
    assert paths, "the table names no file"
    missing = [p for p in sorted(paths) if not (ROOT / "posekit" / p).is_file()]
    assert not missing, f"README names files that do not exist: {missing}"


def test_the_package_map_lists_every_module():
    block = README[README.index("## The package"):README.index("Each layer imports")]
    named = set(re.findall(r"[a-z_]+", block))
    modules = {p.stem for p in (ROOT / "posekit").rglob("*.py") if p.stem not in ("__init__", "__main__")}
    assert not modules - named, f"modules missing from the README's map: {sorted(modules - named)}"
