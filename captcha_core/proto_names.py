"""The contract's enum names for the core's values. The proto names every value after its
enum's prefix, in capitals (``COLOR_RED``, ``ROUTE_COLOR_TRANSFORM``, ``ADVICE_REFRESH``); the
server and the SDK derive their maps from the generated enums with ``values``, so no table of
numbers is written by hand twice. No protobuf import here: a generated enum is passed in."""
from __future__ import annotations


def values(pb_enum, prefix: str) -> dict[int, str]:
    """number -> the value's lower-case name (``pb.Route`` and "ROUTE": {1: "direct", 2:
    "color_transform"}), for every number of ``pb_enum`` but the unspecified 0."""
    return {number: name.removeprefix(prefix + "_").lower() for name, number in pb_enum.items() if number}
