"""Map Pacemaker node names to Nova service host names, and back.

Precedence, first match wins:

1. an explicit map (``host_map`` parameter: ``node1:nova1.example.com;node2:nova2``);
2. the node attribute ``instanceha-nova-host`` published by NovaCompute on start
   (:mod:`instanceha.cluster.attribute_names`);
3. the DNS-domain rule: a short node name plus ``domain`` (``comp1`` → ``comp1.example.com``);
4. the node name itself.

Reverse lookups (Nova host → node) use the same sources. Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["HostMap", "HostMapError", "parse_host_map"]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*$")


class HostMapError(ValueError):
    """A map or name that cannot work; the message says which and why."""


def _check_host(name: str, what: str) -> str:
    if not _HOSTNAME.match(name):
        raise HostMapError(f"{what} {name!r} is not a valid host name")
    return name


def parse_host_map(text: str) -> dict[str, str]:
    """Parse ``node:host`` pairs separated by ``;``, ``,`` or whitespace.

    :raises HostMapError: on a malformed pair or a node mapped twice.
    """
    mapping: dict[str, str] = {}
    for pair in re.split(r"[;,\s]+", text.strip()):
        if not pair:
            continue
        node, sep, host = pair.partition(":")
        if not sep or not node or not host:
            raise HostMapError(f"host_map entry {pair!r} is not node:host")
        if node in mapping:
            raise HostMapError(f"host_map maps node {node!r} twice")
        mapping[_check_host(node, "host_map node")] = _check_host(host, "host_map host")
    return mapping


@dataclass(frozen=True)
class HostMap:
    """The mapping rules in force; ``published`` holds NOVA_HOST_ATTRIBUTE values by node."""

    explicit: Mapping[str, str] = field(default_factory=dict)
    domain: str = ""
    published: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domain:
            _check_host(self.domain.strip("."), "domain")

    @classmethod
    def from_params(cls, host_map: str, domain: str,
                    published: Mapping[str, str] | None = None) -> HostMap:
        """The rules of the agents' ``host_map`` and ``domain`` parameters, with the names
        NovaCompute published (every user of the mapping builds it here).

        :raises HostMapError: on a malformed map or domain.
        """
        return cls(parse_host_map(host_map), domain, dict(published or {}))

    def nova_host(self, node: str) -> str:
        """The Nova host name for a node.

        :raises HostMapError: when the result is not a valid host name.
        """
        if node in self.explicit:
            return self.explicit[node]
        if self.published.get(node):
            return _check_host(self.published[node], f"published Nova host of {node}")
        domain = self.domain.strip(".")
        if domain and "." not in node:
            return _check_host(f"{node}.{domain}", "Nova host")
        return _check_host(node, "node name")

    def node(self, nova_host: str, nodes: list[str]) -> str | None:
        """The node among ``nodes`` whose Nova host is ``nova_host``, if any."""
        for node in nodes:
            try:
                if self.nova_host(node) == nova_host:
                    return node
            except HostMapError:
                continue
        return None
