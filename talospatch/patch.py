"""gen's pipeline: options -> documents -> lockout guard -> patch text, read back as Talos reads it.

Every command that produces a patch (``gen``, and a workflow that builds many) runs this; the
caller prints the warnings and writes the text (``talospatch.output``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from talospatch.errors import TalospatchError
from talospatch.expand import Generated, expand
from talospatch.options import FIELD_NAMES, GenOptions, Labels
from talospatch.profiles import Catalog
from talospatch.render import render
from talospatch.talosdocs import apply_patches
from talospatch.yamlio import load_all


@dataclass(frozen=True)
class Patch:
    """A generated patch, or the lockouts that stopped it (then ``text`` is empty)."""

    generated: Generated
    lockouts: tuple[str, ...]
    text: str


def make_patch(
    opts: GenOptions,
    command: Callable[[GenOptions], str],
    *,
    labels: Labels = FIELD_NAMES,
    catalog: Catalog | None = None,
) -> Patch:
    """Expand ``opts``, guard the lockout ports, render and validate the patch.

    ``command`` turns the normalized options into the header's "regenerate with" line.
    """
    generated = expand(opts, catalog, labels)
    if generated.guard_addresses:
        # The guard compiles the ruleset (nft, reach): imported only when there is an address to guard.
        from talospatch.guard import lockouts
        from talospatch.nft import NodeContext

        problems = lockouts(generated, NodeContext(pod_subnets=generated.pod_subnets), labels)
        if problems:
            return Patch(generated, tuple(problems), "")
    text = render(generated, command(generated.options))
    # Validate what will be written, as Talos will read it.
    if apply_patches([("output", load_all(text, "output"))]) != generated.firewall:
        raise TalospatchError("the rendered patch does not read back as the generated rules")
    return Patch(generated, (), text)
