"""One role's gen request from a cluster spec: its own settings, else the top-level ones that apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from talospatch.generate.expand import CONVERGED_ROLE, CONVERGED_TAKES, used_groups
from talospatch.generate.options import DEFAULT_CNI, GenOptions, Labels
from talospatch.generate.profiles import Catalog, LoadedProfile, Profile
from talospatch.spec.model import EXTRA_RULES, GROUP_OF, KEYS, Settings

if TYPE_CHECKING:
    from talospatch.spec.load import LoadedSpec


@dataclass(frozen=True)
class RoleRequest:
    """One role's gen request, with how to name its options and the profiles it may use."""

    role: str
    options: GenOptions
    labels: Labels
    catalog: Catalog
    # ``pruneFrom`` as the spec spells it (relative to the spec), for the patch's comments.
    prune_from: str | None = None


def role_request(loaded: LoadedSpec, role: str) -> RoleRequest:
    """The role's GenOptions: its own settings, else the top-level ones that apply to it."""
    own = (loaded.spec.roles or {}).get(role) or Settings()
    catalog = loaded.catalog
    names: dict[str, str] = {}

    def take(name: str, applies: bool = True) -> Any:
        value = getattr(own, name)
        if value is not None:
            names[name] = f"roles.{role}.{KEYS[name]}"
            return value
        return getattr(loaded.spec, name) if applies else None

    cni = take("cni")
    tunnel = take("tunnel", bool(catalog.get(cni or DEFAULT_CNI, "cni").profile.tunnels))
    converged = bool(take("converged", role == CONVERGED_ROLE))
    if own.addons is not None:
        addons = list(take("addons"))
    else:
        addons = [a for a in loaded.spec.addons or () if addon_applies(catalog.get(a, "addon"), role, converged)]
    nodeport = bool(take("nodeport", addon_applies(catalog.get("nodeport", "addon"), role, converged)))
    extra = take("extra_rules")
    if extra:
        catalog = catalog.with_profile(
            LoadedProfile(
                EXTRA_RULES,
                f"{loaded.path}: {names.get('extra_rules', 'extraRules')}",
                Profile(kind="addon", description=f"extra rules of {loaded.path}", rules=extra),
            )
        )
        addons.append(EXTRA_RULES)
    prune = take("prune_from")
    options = GenOptions(
        role=role,
        cni=cni,
        tunnel=tunnel,
        subnets=tuple(take("subnets") or ()),
        addons=tuple(addons),
        nodeport=nodeport,
        converged=converged,
        compact=bool(take("compact")),
        profiles_dir=loaded.relative(loaded.spec.profiles_dir) if loaded.spec.profiles_dir is not None else None,
        guard_from=tuple(take("guard_from") or ()),
        prune_from=loaded.relative(prune) if prune is not None else None,
        talos_version=loaded.spec.talos_version,
    )
    labels = Labels({**KEYS, **names})
    used = used_groups(options, catalog, labels)
    values: dict[str, Any] = {name: tuple(take(name, group in used) or ()) for name, group in GROUP_OF.items()}
    options = options._replace(**values)
    labels = Labels({**KEYS, **names})
    return RoleRequest(role, options, labels, catalog, prune)


def addon_applies(loaded: LoadedProfile, role: str, converged: bool) -> bool:
    """Whether an add-on applies to the role (a converged control plane takes the workers' too)."""
    roles = {role, CONVERGED_TAKES} if converged else {role}
    return not loaded.profile.roles or bool(roles & set(loaded.profile.roles))
