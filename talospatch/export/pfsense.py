"""``pfsense``: the ``<aliases>`` and ``<filter>`` sections of ``config.xml`` for the node VLAN.

The router's view of the cluster (``talospatch.export.routed.plan``) as pfSense's two restore
areas, ``pfsense-aliases.xml`` and ``pfsense-filter.xml``, tab-indented as pfSense writes them
(the elements: ``talospatch.export.pfsense_xml``). With ``merge_into`` (``--merge-into
BACKUP.xml``) the export is instead the user's whole ``config.xml`` with only talospatch's
rules, aliases and comment rewritten (``talospatch.export.pfsense_merge``).
"""

from __future__ import annotations

from talospatch.export.cluster import Cluster, Export
from talospatch.export.pfsense_merge import merge
from talospatch.export.pfsense_xml import alias_lines, comment_lines, pf_rules, rule_lines
from talospatch.export.routed import TAG, RoutedPlan, plan
from talospatch.registry import ExportOptions, interfaces

FILTER_FILE = "pfsense-filter.xml"
ALIASES_FILE = "pfsense-aliases.xml"


def render(cluster: Cluster, options: ExportOptions) -> Export:
    """The two restore areas, whole; or, with ``options.merge_into``, the merged ``config.xml``."""
    cluster_interface, sources = interfaces(options)
    routed = plan(cluster, options.ntp_servers)
    if options.merge_into is not None:
        return merge(options.merge_into, routed, cluster_interface, sources, options.merge_name)
    return sections(routed, cluster_interface, sources)


def sections(routed: RoutedPlan, cluster_interface: str, sources: tuple[str, ...]) -> Export:
    """``pfsense-aliases.xml`` and ``pfsense-filter.xml``: the two restore areas, whole."""
    unit, nl = "\t", "\n"
    rules = pf_rules(routed, cluster_interface, sources, set())
    filter_lines = [
        '<?xml version="1.0"?>',
        "<filter>",
        *comment_lines(routed, cluster_interface, sources, unit, section=True),
    ]
    for pf in rules:
        filter_lines += rule_lines(pf, unit, unit)
    filter_lines.append("</filter>")
    alias_text = [
        '<?xml version="1.0"?>',
        "<aliases>",
        (
            f"{unit}<!-- {TAG} aliases for the rules of {FILTER_FILE}. Restoring this file as the Aliases "
            "area replaces every alias on the firewall: merge it into your own exported config.xml instead. -->"
        ),
    ]
    for alias in routed.aliases:
        alias_text += alias_lines(alias, unit, unit)
    alias_text.append("</aliases>")
    return Export(
        {ALIASES_FILE: nl.join(alias_text) + nl, FILTER_FILE: nl.join(filter_lines) + nl},
        tuple(routed.warnings),
    )
