"""gen's pipeline: options -> documents -> lockout guard -> patch text, read back as Talos reads it.

Every command that produces a patch (``gen``, and ``build``, which builds one per role of a
spec) runs this; the caller prints the warnings and writes the text (``talospatch.output``).
Beside the generated rules a patch deletes the rules that must go (``talospatch.generate.removal``):
those of the node's config (``prune_from``) and, for ``build``, those of the previous file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from talospatch.checks.guard import lockouts
from talospatch.checks.hazards import fit_generated
from talospatch.errors import TalospatchError
from talospatch.generate.expand import Generated, expand
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.generate.profiles import Catalog
from talospatch.generate.removal import Previous, RemovalPlan, Tombstone, read_node_documents, rule_names
from talospatch.generate.render import render, tombstone
from talospatch.nft.compile import NodeContext
from talospatch.talhelper import TALHELPER, TALOSCTL, escape, readable
from talospatch.talos.context import ConfigContext, config_context
from talospatch.talos.documents import apply_patches
from talospatch.workflows.node import NodeOptions, kube_proxy_warning, with_config
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
    # Where the node context came from (the node config of ``prune_from``, or an option over it),
    # and the warnings that context raises (kube-proxy off), for stderr.
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def make_patch(
    opts: GenOptions,
    command: Callable[[GenOptions], str],
    *,
    labels: Labels = FIELD_NAMES,
    catalog: Catalog | None = None,
    previous: Previous | None = None,
    keep_tombstones: int | None = None,
    prune_label: str | None = None,
    tool: str = TALOSCTL,
    path: str | None = None,
) -> Patch:
    """Expand ``opts``, guard the lockout ports, render and validate the patch.

    ``command`` turns the normalized options into the header's "regenerate with" line.
    With ``previous`` (the file this patch replaces, for ``build``) the patch keeps deleting
    what that file deleted or held and the new set lacks, and carries a generation: the
    previous one when the text is unchanged, else one more. ``keep_tombstones`` bounds how
    many generations a deletion stays (default: until the rule returns). ``prune_label``
    names the node config in comments (default: ``opts.prune_from``). For ``tool``
    talhelper the text is escaped for talhelper's envsubst (``talospatch.talhelper``) and its
    header shows the talconfig.yaml lines for ``path``; ``previous.text`` is then compared as
    talosctl would read it.

    The node config of ``opts.prune_from`` also gives the node's context
    (``talospatch.talos.context``): its pod subnets are the ``pods`` source unless
    ``opts.pod_subnets`` is given, and its service subnets, host DNS and kube-proxy setting
    go into the ruleset the lockout guard compiles; ``Patch.notes`` say where each came from.
    """
    where = prune_label or opts.prune_from or ""
    node_documents = read_node_documents(opts.prune_from, labels("prune_from")) if opts.prune_from else []
    config = (
        config_context(((where, doc) for doc in node_documents), opts.talos_version)
        if node_documents
        else ConfigContext()
    )
    given_pods = opts.pod_subnets
    # Pod subnets the config sets are the pods source; Talos's defaults are gen's own default too.
    if not given_pods and config.pod_subnets is not None and not config.pod_subnets.default:
        opts = opts._replace(pod_subnets=tuple(str(n) for n in config.pod_subnets.value))
    generated = expand(opts, catalog, labels)
    context, notes, config = with_config(
        NodeContext(pod_subnets=generated.pod_subnets), config, NodeOptions(pod_subnets=given_pods), labels
    )
    warnings = (kube_proxy_warning(config),) if config.kube_proxy is not None and not config.kube_proxy.value else ()
    # The release's hazards: documents it cannot compile are rewritten (with a warning) or refused.
    fit = fit_generated(generated, context, generated.version)
    generated = fit.generated
    if generated.guard_addresses:
        problems = lockouts(generated, context, labels, fit.ruleset)
        if problems:
            return Patch(generated, tuple(problems), "", notes=tuple(notes), warnings=warnings)
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
    # The header repeats what was asked: pod subnets read from the node config stay out of it.
    line = command(generated.options if given_pods else generated.options._replace(pod_subnets=()))
    # The documents render once; only the header's generation and the tombstones vary.
    placeholder = "\0talospatch-header\0"
    body = render(generated, placeholder, tool, path)

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
    if tool == TALHELPER:
        escaped = escape(text)
        if readable(escaped, "output") != text:
            raise TalospatchError("the patch for talhelper does not read back as the patch for talosctl")
        text = escaped
    return Patch(generated, (), text, tuple(tombstones), generation, tuple(notes), warnings)
