"""gen's pipeline: options -> documents -> lockout guard -> patch text, read back as Talos reads it.

Every command that produces a patch (``gen``, and ``build``, which builds one per role of a
spec) runs this; the caller prints the warnings and writes the text (``talospatch.output``).
Beside the generated rules a patch deletes the rules that must go (``talospatch.generate.removal``):
those of the node's config (``prune_from``) and, for ``build``, those of the previous file.

The node's config also says what surrounds the firewall (``talospatch.talos.context``): its pod
subnets become the ``pods`` source (a ``--pod-subnet`` given wins, with a note), its service
subnets and host DNS setting shape the ruleset the lockout guard queries, and a kube-proxy
that is off or a control plane that runs workloads gets a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from talospatch.checks.guard import lockouts
from talospatch.checks.hazards import fit_generated
from talospatch.errors import TalospatchError
from talospatch.generate.expand import Generated, expand, used_groups
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.generate.profiles import Catalog
from talospatch.generate.removal import Previous, RemovalPlan, Tombstone, read_node_documents, rule_names
from talospatch.generate.render import render, tombstone
from talospatch.nft.compile import NodeContext, with_cluster
from talospatch.talos.addresses import parse_network
from talospatch.talos.context import Context, Given, nodeport_bypass, read_context, resolve, runs_workloads
from talospatch.talos.documents import apply_patches
from talospatch.yamlio import load_all


@dataclass(frozen=True)
class Patch:
    """A generated patch, or the lockouts that stopped it (then ``text`` is empty)."""

    generated: Generated
    lockouts: tuple[str, ...]
    text: str
    # The rules the patch deletes, and the file's generation (``build`` only).
    tombstones: tuple[Tombstone, ...] = ()
    generation: int | None = None
    # Where the node's context came from (its config's values, flags that won), for stderr.
    notes: tuple[str, ...] = ()


def _node_context(
    opts: GenOptions, labels: Labels, catalog: Catalog | None, documents: list[Mapping[str, Any]]
) -> tuple[GenOptions, Labels, Context]:
    """What the node's config says, under gen's flags; its pod subnets feed the ``pods``
    source when no ``--pod-subnet`` is given and a selected rule allows pods."""
    where = opts.prune_from or ""
    found = read_context((f"{where}: document {i}", d) for i, d in enumerate(documents, start=1))
    given = Given(
        pod_subnets=tuple(parse_network(p, labels("pod_subnets"), allow_address=False) for p in opts.pod_subnets),
        converged=opts.converged,
    )
    cluster = resolve(found, given, labels)
    pods = found.pod_subnets
    if pods is not None and not opts.pod_subnets:
        if catalog is None:
            catalog = Catalog.load(opts.profiles_dir, labels("profiles_dir"))
        if "pods" in used_groups(opts, catalog, labels):
            opts = opts._replace(pod_subnets=tuple(str(n) for n in pods.value))
            labels = Labels({**labels.names, "pod_subnets": pods.origin})
    return opts, labels, cluster


def make_patch(
    opts: GenOptions,
    command: Callable[[GenOptions], str],
    *,
    labels: Labels = FIELD_NAMES,
    catalog: Catalog | None = None,
    previous: Previous | None = None,
    keep_tombstones: int | None = None,
    prune_label: str | None = None,
) -> Patch:
    """Expand ``opts``, guard the lockout ports, render and validate the patch.

    ``command`` turns the normalized options into the header's "regenerate with" line.
    With ``previous`` (the file this patch replaces, for ``build``) the patch keeps deleting
    what that file deleted or held and the new set lacks, and carries a generation: the
    previous one when the text is unchanged, else one more. ``keep_tombstones`` bounds how
    many generations a deletion stays (default: until the rule returns). ``prune_label``
    names the node config in comments (default: ``opts.prune_from``).
    """
    node_documents = read_node_documents(opts.prune_from, labels("prune_from")) if opts.prune_from else []
    cluster = Context()
    if node_documents:
        opts, labels, cluster = _node_context(opts, labels, catalog, node_documents)
    generated = expand(opts, catalog, labels)
    context = with_cluster(NodeContext(pod_subnets=generated.pod_subnets), cluster)
    # The release's hazards: documents it cannot compile are rewritten (with a warning) or refused.
    fit = fit_generated(generated, context, generated.version)
    generated = _context_warnings(fit.generated, cluster, labels)
    if generated.guard_addresses:
        problems = lockouts(generated, context, labels, fit.ruleset)
        if problems:
            return Patch(generated, tuple(problems), "", notes=cluster.notes)
    selected = {opts.role, generated.options.cni or "", *generated.options.addons}
    if generated.options.nodeport:
        selected.add("nodeport")
    plan = RemovalPlan(
        generated=frozenset(d.document.name for d in generated.documents),
        previous=previous,
        node_rules=tuple(rule_names(node_documents)),
        node_file=prune_label or opts.prune_from,
        selected_profiles=frozenset(selected),
        role=opts.role,
        keep=keep_tombstones,
    )
    line = command(generated.options)
    # The documents render once; only the header's generation and the tombstones vary.
    placeholder = "\0talospatch-header\0"
    body = render(generated, placeholder)

    def text_of(generation: int | None) -> tuple[str, list[Tombstone]]:
        stones = plan.tombstones(generation)
        header = line if generation is None else f"{line} (generation {generation})"
        return body.replace(placeholder, header, 1) + "".join(tombstone(s) for s in stones), stones

    generation = None if previous is None else previous.generation
    text, tombstones = text_of(generation)
    if previous is not None and text != previous.text:
        generation = previous.generation + 1
        text, tombstones = text_of(generation)
    # Validate what will be written, as Talos will read it: alone, and over the node's config.
    documents = load_all(text, "output")
    if apply_patches([("output", documents)]) != generated.firewall:
        raise TalospatchError("the rendered patch does not read back as the generated rules")
    if node_documents:
        applied = apply_patches([(opts.prune_from or "", node_documents), ("output", documents)])
        if {r.name for r in applied.rules} != set(plan.generated):
            raise TalospatchError("the patch over the node's config does not leave exactly the generated rules")
    return Patch(generated, (), text, tuple(tombstones), generation, cluster.notes)


def _context_warnings(generated: Generated, cluster: Context, labels: Labels) -> Generated:
    """``generated`` with the warnings the node's context calls for."""
    extra: list[str] = []
    if cluster.kube_proxy_off_by is not None:
        extra.append(nodeport_bypass(cluster.kube_proxy_off_by, generated.firewall))
    opts = generated.options
    if not opts.converged and opts.role == "controlplane" and runs_workloads(cluster, opts.role):
        extra.append(
            f"this control plane runs workloads ({cluster.converged_by}), and the patch opens neither NodePorts "
            f"nor the workers' add-ons; pass {labels('converged')} for them"
        )
    return dataclasses.replace(generated, warnings=[*generated.warnings, *extra]) if extra else generated
