"""ml/requirements.txt is the lock of ml/pyproject.toml (scripts/lock-python):
each direct dependency pinned as pyproject.toml says, every package with
file hashes, and the venv the tests run in holding exactly those versions."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ML = Path(__file__).resolve().parents[1]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes) from the lock."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ML / "requirements.txt").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", line)
        if pin:
            current = normalized(pin.group(1))
            pins[current] = (pin.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def test_every_direct_dependency_is_locked_at_its_pin():
    project = tomllib.loads((ML / "pyproject.toml").read_text())["project"]
    pins = locked()
    for requirement in project["dependencies"]:
        name, version = requirement.split("==")
        assert normalized(name) in pins, f"{name} is in pyproject.toml, not in the lock: run scripts/lock-python"
        assert pins[normalized(name)][0] == version, f"{name}: {version} in pyproject.toml, lock has {pins[normalized(name)][0]}"


def test_every_locked_package_has_hashes():
    unhashed = [name for name, (_, hashes) in locked().items() if hashes == 0]
    assert not unhashed, f"no hashes for {unhashed}: run scripts/lock-python"


def test_the_venv_holds_the_locked_versions():
    wrong = {}
    for name, (version, _) in locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}; run scripts/setup-python"
