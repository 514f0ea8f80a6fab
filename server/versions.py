"""Which version of each colour should serve, as TensorFlow Serving decides it: a source that
lists the version folders on disk (its FileSystemStoragePathSource) and a policy that orders
them by preference (its ServableVersionPolicy: latest, or one pinned version).

    --version-policy latest                 every colour: the newest version
    --version-policy red=21,blue=latest     red pinned at 21, the others the newest
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from captcha_core import versions
from captcha_core.colors import ALL_COLORS, Color


@dataclass(frozen=True)
class VersionSource:
    """The version folders under ``root/<colour>/``."""

    root: Path

    def available(self, color: Color) -> list[tuple[int, Path]]:
        return versions.versions(Path(self.root) / color.label)


@dataclass(frozen=True)
class VersionPolicy:
    """``pinned``: colour -> the one version that colour may serve; other colours serve the latest."""

    pinned: dict[Color, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """``latest`` or ``colour=version|latest`` pairs separated by commas."""
        pinned: dict[Color, int] = {}
        text = (text or "latest").strip()
        if text == "latest":
            return cls()
        for part in text.split(","):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r}: expected colour=version or colour=latest")
            color = Color.parse(name.strip())
            value = value.strip()
            if value == "latest":
                pinned.pop(color, None)
            elif value.isdigit():
                pinned[color] = int(value)
            else:
                raise ValueError(f"{part!r}: a version is a whole number or 'latest'")
        return cls(pinned)

    def preference(self, color: Color, available: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
        """The versions ``color`` may serve, most wanted first: the newest first (an older one
        serves when the newer fail to load), or only the pinned one."""
        if color in self.pinned:
            return [(v, p) for v, p in available if v == self.pinned[color]]
        return sorted(available, reverse=True)

    def describe(self, color: Color) -> str:
        return f"pinned {self.pinned[color]}" if color in self.pinned else "latest"


def describe(policy: VersionPolicy) -> str:
    return ", ".join(f"{c.label} {policy.describe(c)}" for c in ALL_COLORS)
