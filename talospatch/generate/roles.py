"""One role's options from a cluster's: the one place that decides what a setting means per role.

A cluster's settings (a spec's top level, or gen's options given to ``export``) apply to each
role where they mean something: an add-on restricted to other roles, ``nodeport`` on a control
plane, ``converged`` on a worker, ``tunnel`` with a CNI that has no tunnel choice, or addresses
for a source group none of the role's selected rules takes are left out for that role. A role's
own settings (a spec's ``roles.<role>``) replace the cluster's and always apply: ``expand``
refuses one that cannot. A converged control plane takes the workers' add-ons and NodePorts too.

Both the cluster spec (``talospatch.spec.roles``) and the export targets' cluster built from
gen's options (``talospatch.export.cluster``) resolve every role here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talospatch.generate.expand import CONVERGED_ROLE, CONVERGED_TAKES, GROUP_FIELDS, used_groups
from talospatch.generate.options import DEFAULT_CNI, FIELD_NAMES, GenOptions, Labels
from talospatch.generate.profiles import Catalog, LoadedProfile

# The options a role may set for itself and the defaults that mean "not set".
_UNSET = GenOptions()


def addon_applies(loaded: LoadedProfile, role: str, converged: bool) -> bool:
    """Whether an add-on applies to the role (a converged control plane takes the workers' too)."""
    roles = {role, CONVERGED_TAKES} if converged else {role}
    return not loaded.profile.roles or bool(roles & set(loaded.profile.roles))


def role_options(
    role: str,
    cluster: GenOptions,
    catalog: Catalog,
    *,
    own: Mapping[str, Any] | None = None,
    labels: Labels = FIELD_NAMES,
    extra_addons: tuple[str, ...] = (),
) -> GenOptions:
    """The role's GenOptions: ``own`` settings (GenOptions field -> value), else the cluster's that apply.

    ``cluster.role`` is ignored. ``extra_addons`` always apply (a spec's inline ``extraRules``,
    already in ``catalog``). ``labels`` name the options in the errors of the profile selection.
    """
    own = own or {}

    def take(name: str, applies: bool = True) -> Any:
        if name in own:
            return own[name]
        return getattr(cluster, name) if applies else getattr(_UNSET, name)

    cni = take("cni")
    # The cluster's tunnel applies where the role's CNI has a tunnel choice.
    tunnel = own.get("tunnel", cluster.tunnel)
    if "tunnel" not in own and tunnel is not None and not catalog.get(cni or DEFAULT_CNI, "cni").profile.tunnels:
        tunnel = None
    converged = bool(take("converged", role == CONVERGED_ROLE))
    if "addons" in own:
        addons = tuple(own["addons"])
    else:
        addons = tuple(a for a in cluster.addons if addon_applies(catalog.get(a, "addon"), role, converged))
    nodeport = bool(own.get("nodeport", cluster.nodeport))
    if "nodeport" not in own and nodeport:
        nodeport = addon_applies(catalog.get("nodeport", "addon"), role, converged)
    cleared: dict[str, Any] = dict.fromkeys(GROUP_FIELDS.values(), ())
    options = cluster._replace(
        role=role,
        cni=cni,
        tunnel=tunnel,
        subnets=tuple(take("subnets")),
        addons=(*addons, *extra_addons),
        nodeport=nodeport,
        converged=converged,
        compact=bool(take("compact")),
        guard_from=tuple(take("guard_from")),
        prune_from=take("prune_from"),
        **cleared,
    )
    used = used_groups(options, catalog, labels)
    given: dict[str, Any] = {name: tuple(take(name, group in used)) for group, name in GROUP_FIELDS.items()}
    return options._replace(**given)
