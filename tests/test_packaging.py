"""The Docker image installs exactly what pyproject.toml asks for, from a hashed lock file."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.config import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ \\]+)", re.MULTILINE)


def locked() -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(LOCK.read_text())}


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def test_every_runtime_dependency_is_locked_within_its_range() -> None:
    pins = locked()
    problems = []
    for requirement in runtime_requirements():
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert problems == [], "regenerate requirements.lock (README, Dependencies): " + "; ".join(
        problems
    )


def test_every_pin_carries_hashes() -> None:
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9._-]+==)", text)
    unhashed = [
        block.split()[0] for block in blocks if PIN.match(block) and "--hash=sha256:" not in block
    ]
    assert unhashed == []


def test_the_image_installs_the_lock_with_hashes_and_nothing_else() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    # The project itself is installed without resolving dependencies again.
    assert "pip install --no-deps ." in dockerfile
