"""Checks of each document on its own: what Talos rejects or cannot read as meant.

A document check gets the document's data, where it is and its label, and returns the data
to read on (repaired, for a quoted port) or ``None`` when the document goes no further;
the document that passes every check takes part in the firewall. So one bad document
does not hide the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from talospatch.checks.lint.findings import Collector
from talospatch.errors import BadInput
from talospatch.talos.documents import (
    DEFAULT_ACTION_KIND,
    RULE_KIND,
    DefaultActionConfig,
    RuleConfig,
    parse_document,
    validate_port_ranges,
)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOKEN = re.compile(r"__talospatch_placeholder_([A-Za-z_][A-Za-z0-9_]*)__")
_REJECTED = "fix the document: Talos rejects it"
DHCPV6_KIND = "DHCPv6Config"


def mark_placeholders(text: str) -> str:
    """``${VAR}`` as a plain token, so YAML (even flow style) reads it and we can name it."""
    return _PLACEHOLDER.sub(lambda m: f"__talospatch_placeholder_{m.group(1)}__", text)


def _placeholders(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """``(where in the document, VAR)`` for every placeholder inside ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _placeholders(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _placeholders(item, f"{path}[{index}]")
    elif isinstance(value, str):
        for match in _TOKEN.finditer(value):
            yield path, match.group(1)


def label(data: Mapping[str, Any], where: str) -> str:
    """How findings name a document: its kind and name, else where it is."""
    kind = str(data.get("kind"))
    name = data.get("name")
    if kind == DEFAULT_ACTION_KIND:
        return kind
    if isinstance(name, str) and name:
        return f"{kind}/{_TOKEN.sub(lambda m: '${' + m.group(1) + '}', name)}"
    return where.rsplit(": ", 1)[-1]


def machine_type(documents: list[tuple[str, Mapping[str, Any]]]) -> str | None:
    for _, data in documents:
        machine = data.get("machine")
        if data.get("version") == "v1alpha1" and isinstance(machine, Mapping):
            value = machine.get("type")
            return str(value) if value else None
    return None


def _dhcpv6_on(device: Mapping[str, Any]) -> bool:
    """A v1alpha1 interface or VLAN with DHCPv6: ``dhcp: true`` and ``dhcpOptions.ipv6: true``
    (Talos's default is DHCPv4 only)."""
    options = device.get("dhcpOptions")
    return device.get("dhcp") is True and isinstance(options, Mapping) and options.get("ipv6") is True


def dhcpv6_links(documents: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Where the config turns DHCPv6 on: ``DHCPv6Config`` documents (v1.12+) and the legacy
    ``machine.network.interfaces`` (and their VLANs) with ``dhcpOptions.ipv6``."""
    found: list[str] = []
    for _, data in documents:
        if data.get("kind") == DHCPV6_KIND and data.get("$patch") != "delete":
            found.append(f"{DHCPV6_KIND}/{data.get('name') or ''}")
        machine = data.get("machine") if data.get("version") == "v1alpha1" else None
        network = machine.get("network") if isinstance(machine, Mapping) else None
        interfaces = network.get("interfaces") if isinstance(network, Mapping) else None
        for index, device in enumerate(interfaces if isinstance(interfaces, list) else []):
            if not isinstance(device, Mapping):
                continue
            where = f"machine.network.interfaces[{index}]"
            name = f" ({device['interface']})" if isinstance(device.get("interface"), str) else ""
            if _dhcpv6_on(device):
                found.append(where + name)
            vlans = device.get("vlans")
            for vindex, vlan in enumerate(vlans if isinstance(vlans, list) else []):
                if isinstance(vlan, Mapping) and _dhcpv6_on(vlan):
                    found.append(f"{where}.vlans[{vindex}]{name}")
    return found


def check_placeholders(data: Mapping[str, Any], where: str, label: str, out: Collector) -> Mapping[str, Any] | None:
    holes = list(_placeholders(data))
    if not holes:
        return data
    out.placeholders += 1
    for path, var in holes:
        out.add(
            label,
            "placeholder",
            f"{path} is the placeholder ${{{var}}}, which Talos reads literally",
            "substitute it before applying (envsubst, talhelper, flux); this document is not checked further",
        )
    return None


def check_quoted_ports(data: Mapping[str, Any], where: str, label: str, out: Collector) -> Mapping[str, Any] | None:
    """A quoted single port (``"80"``) is a finding; read on as the port it means."""
    selector = data.get("portSelector")
    if data.get("$patch") == "delete":
        return data
    if not isinstance(selector, Mapping) or not isinstance(selector.get("ports"), list):
        return data
    ports = []
    for value in selector["ports"]:
        if isinstance(value, str) and value.strip().isdigit():
            out.add(
                label,
                "quoted-port",
                f'port "{value}" is a quoted single port, which Talos rejects (invalid port range: "{value}")',
                f"write it unquoted: {value.strip()}",
            )
            ports.append(int(value.strip()))
        else:
            ports.append(value)
    return {**data, "portSelector": {**selector, "ports": ports}}


def check_valid(data: Mapping[str, Any], where: str, label: str, out: Collector) -> Mapping[str, Any] | None:
    """The document as Talos reads it (a ``$patch: delete`` is taken as it is)."""
    if data.get("$patch") == "delete":
        return data
    try:
        doc = parse_document(data, where)
    except BadInput as exc:
        message = str(exc).removeprefix(f"{where}: ").removeprefix(f"{label}: ")
        out.add(label, "invalid", message, _REJECTED, "error")
        return None
    if doc is None:
        return None
    if isinstance(doc, DefaultActionConfig):
        return data
    if not doc.name:
        out.add(label, "invalid", "name is required", _REJECTED, "error")
        return None
    try:
        validate_port_ranges(doc.ports)
    except ValueError as exc:
        out.add(label, "invalid", str(exc), _REJECTED, "error")
        return None
    out.names[doc.name] += 1
    return data


def check_ports_given(rule: RuleConfig, label: str, out: Collector) -> None:
    """A rule as the node ends up with it (patches merged) needs its ports."""
    if not rule.ports:
        out.add(
            label,
            "invalid",
            "portSelector.ports is required",
            f"{_REJECTED} (a patch of a rule defined elsewhere: check both files with --merge)",
            "error",
        )


def check_names(out: Collector) -> None:
    """After a file's documents: names used twice."""
    version = out.options.version
    if version is not None and version.duplicate_documents_in_patch:
        return  # merged in order since v1.14
    for name, count in out.names.items():
        if count > 1:
            out.add(
                f"{RULE_KIND}/{name}",
                "duplicate-name",
                f"the name is used by {count} documents in this file",
                "keep one: Talos before v1.14 rejects the file (duplicate document), later versions merge "
                "the documents in order",
            )
