"""Firewall documents for tests: as models, and as the YAML text users write."""

from __future__ import annotations

import ipaddress
import textwrap
import typing
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from talospatch.talos.documents import Action, Firewall, IngressRule, PortSelector, RuleConfig
from testing.cluster import PROFILES

ip = ipaddress.ip_address
net = ipaddress.ip_network

BLOCK_DOC = "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n"
ACCEPT_DOC = "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: accept\n"


def rule(name: str, ports: list[int | str], proto: str, *ingress: str) -> RuleConfig:
    """A NetworkRuleConfig; each ingress entry is ``"cidr"`` or ``"cidr except cidr"``."""
    entries = []
    for text in ingress:
        subnet, _, exc = text.partition(" except ")
        data = {"subnet": subnet} | ({"except": exc} if exc else {})
        entries.append(IngressRule.from_data(data, ()))
    return RuleConfig(
        name=name,
        portSelector=PortSelector.from_data({"ports": ports, "protocol": proto}, ()),
        ingress=tuple(entries),
    )


def firewall(action: str, *rules: RuleConfig, default_doc: bool = True) -> Firewall:
    assert action in ("accept", "block"), action
    return Firewall(typing.cast(Action, action), rules, default_doc)


def rule_doc(name: str, ports: str, protocol: str, subnets: list[str]) -> str:
    """A NetworkRuleConfig document as YAML text (``ports`` as written, e.g. ``[80, "90-99"]``)."""
    ingress = "".join(f"  - subnet: {s}\n" for s in subnets)
    return (
        "apiVersion: v1alpha1\n"
        "kind: NetworkRuleConfig\n"
        f"name: {name}\n"
        "portSelector:\n"
        f"  ports: {ports}\n"
        f"  protocol: {protocol}\n"
        "ingress:\n" + ingress
    )


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _yaml() -> YAML:
    # An independent reader: ruamel's pure-Python safe loader, not talospatch.yamlio.
    return YAML(typ="safe", pure=True)


def load_docs(text: str) -> list[Any]:
    """Every document of a YAML stream, as plain data."""
    return [doc for doc in _yaml().load_all(text) if doc is not None]


def rule_docs(text: str) -> list[dict[str, Any]]:
    """The NetworkRuleConfig documents of a patch, as plain data."""
    return [d for d in load_docs(text) if isinstance(d, dict) and d.get("kind") == "NetworkRuleConfig"]


def builtin_profiles() -> dict[str, dict[str, Any]]:
    """Every file in profiles/, by name, as plain data."""
    return {path.stem: _yaml().load(path.read_text(encoding="utf-8")) for path in sorted(PROFILES.glob("*.yaml"))}


def names_of_kind(kind: str) -> list[str]:
    return sorted(name for name, data in builtin_profiles().items() if data["kind"] == kind)


def write_profile(folder: Path, name: str, text: str) -> Path:
    return write(folder / f"{name}.yaml", text)


def addon_text(
    name: str = "syslog-ingress", ports: str = "[5514]", protocol: str = "udp", from_: str = "[nodes]", extra: str = ""
) -> str:
    """An add-on profile file with one rule."""
    return (
        textwrap.dedent(f"""\
        kind: addon
        description: a test add-on
        rules:
          - name: {name}
            service: test service
            ports: {ports}
            protocol: {protocol}
            from: {from_}
            why: a test needs it
            source: testing/documents.py
        """)
        + extra
    )
