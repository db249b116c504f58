"""Permanent node attributes in memory, with NodeAttributes' compare-and-set contract.

The real store is proven against a live cluster in tests/integration/test_cluster_attrs.py.
"""

from __future__ import annotations

from instanceha.cluster import NodeAttributes


class MemoryAttributes(NodeAttributes):
    """Permanent node attributes in a dict, with the same compare-and-set contract."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def get(self, node: str, name: str) -> str | None:
        return self.values.get((node, name))

    def set(self, node: str, name: str, value: str) -> None:
        self.values[(node, name)] = value

    def delete(self, node: str, name: str) -> None:
        self.values.pop((node, name), None)

    def get_all(self, name: str) -> dict[str, str]:
        return {n: v for (n, k), v in self.values.items() if k == name}

    def compare_and_set(self, node: str, name: str, expected: str | None, new: str | None) -> bool:
        if self.values.get((node, name)) != expected:
            return False
        if new is None:
            self.values.pop((node, name), None)
        else:
            self.values[(node, name)] = new
        return True
