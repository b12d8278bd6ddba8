"""The Talos releases talospatch models, and what differs between them for the firewall.

Everything here was read from the siderolabs/talos sources (tags through v1.14.0-rc.1 and
v1.13.9, ``main`` at ``ad8823176``) and its pull requests: the first release on each release line that has a
change (``CHANGES``), and the releases that exist (``RELEASES``). A ``TalosVersion`` answers
the questions the compiler (``talospatch.nft.compile``), the evaluator (``talospatch.nft.reach``) and the
hazard checks (``talospatch.checks.hazards``) ask, so none of them compares version numbers.

``v1.14.0`` is the release: the ``v1.14.0-rc.1`` sources plus ``55e0f6350`` (PR #14048, conntrack
rules in accept mode, merged 2026-08-14 and shipped from v1.14.0-rc.2), the one change to the
firewall code between rc.1 and that ``main`` commit. No v1.13 patch release has it: neither
``release-1.13`` nor any tag through v1.13.9 contains the commit or a cherry-pick of it. ``main``
is the v1.15 development line; it is selectable but never the default.

Pure: no printing. ``parse_talos_version`` returns a warning string instead of printing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from talospatch.errors import BadInput
from talospatch.generate.options import MAIN_NAME, NEWEST_MINOR, NEWEST_PATCH, OLDEST_MINOR

MAIN_DISPLAY = "main (v1.15 development, after 55e0f6350)"

# Talos's own test notes "ENOBUFS on the receive side past ~91 rules" (#14001): counted as
# nft rules across the chains Talos builds.
ENOBUFS_RULE_LIMIT = 91


@dataclass(frozen=True)
class Change:
    """One behaviour that differs between releases.

    ``since``: the first release on each release line that has it, oldest line first (a
    backport adds an entry for an older line); every later line has it too. Empty: only
    ``main`` has it. ``effect``: what differs on a node; ``action``: what talospatch does.
    """

    key: str
    since: tuple[tuple[int, int, int], ...]
    effect: str
    action: str
    source: str

    def in_version(self, version: TalosVersion) -> bool:
        if version.is_main:
            return True
        if not self.since:
            return False
        minor, patch = version.minor, version.patch
        for _, line_minor, first_patch in self.since:
            if minor == line_minor:
                return patch >= first_patch
        return minor > self.since[-1][1]

    @property
    def first(self) -> str:
        """``v1.9.4 / v1.10.0`` or ``main only``."""
        if not self.since:
            return "main only (unreleased)"
        return " / ".join(f"v{a}.{b}.{c}" for a, b, c in self.since)


CHANGES: tuple[Change, ...] = (
    Change(
        "patch_delete",
        ((1, 8, 0),),
        "`$patch: delete` removes a document; duplicate documents are rejected; adjacent ports are merged",
        "versions before v1.8 are refused (exit 3)",
        "899f1b900, cd7c68266, f14c4795e",
    ),
    Change(
        "host_dns",
        ((1, 8, 0),),
        "block mode accepts pods/services to host DNS 169.254.116.108 udp+tcp 53",
        "`nft` emits the host DNS rules; `query` allows them",
        "a9551b7ca",
    ),
    Change(
        "ingress_priority",
        ((1, 9, 4), (1, 10, 0)),
        "the ingress chain runs at priority -140 (mangle + 10) instead of filter (0)",
        "`nft` prints the release's priority",
        "e3bfb238f, 9463ac23e (#10347)",
    ),
    Change(
        "prerouting_chain",
        ((1, 10, 0),),
        "a prerouting chain (dstnat - 10) filters new connections to node addresses before kube-proxy's "
        "DNAT; before it NodePorts are not filtered at all",
        "`nft` emits the chain from v1.10; `query` answers NodePorts as unfiltered before v1.10",
        "a3f88d2ef (PR #10437)",
    ),
    Change(
        "icmp_cve_drop",
        ((1, 11, 0),),
        "block mode drops ICMP timestamp and address-mask (types 13, 14, 17, 18), CVE-1999-0524",
        "`nft` emits the drop rule from v1.11",
        "62f6c97fe, f65f39b78",
    ),
    Change(
        "range_end_fixed",
        ((1, 12, 5), (1, 13, 0)),
        "a set ending at port 65535 or at the last address (255.255.255.255, ffff:...) no longer "
        "crash-loops the firewall controller with EINVAL (#12890)",
        "before the fix, `hazards` rewrites a port range ending at 65535 to end at 65534, and refuses "
        "a single port 65535 or an address set ending at the last address",
        "4f978a747, 720a2148a",
    ),
    Change(
        "enobufs_fixed",
        ((1, 13, 9), (1, 14, 0)),
        f"large rulesets no longer fail with ENOBUFS (#14001; Talos's test saw it past ~{ENOBUFS_RULE_LIMIT} "
        "nft rules); the ruleset itself is unchanged",
        f"before the fix, `hazards` warns with the compiled rule count above {ENOBUFS_RULE_LIMIT} rules",
        "b525b8290, 87bfa703b",
    ),
    Change(
        "host_dns_v6",
        ((1, 14, 0),),
        "the host DNS rules match fd54:616c:6f73::204f:5320:444e:531 when a pod CIDR is IPv6; before, "
        "their IPv6 part has no destination match (IPv6 pods reach port 53 on every node address where no "
        "prerouting chain drops it first, i.e. before v1.10)",
        "`nft` and `query` model both forms",
        "hostDNSSubnets in nftables_chain_config.go (v1.14.0-rc.1)",
    ),
    Change(
        "duplicate_documents_in_patch",
        ((1, 14, 0),),
        "one patch file may repeat a document (same kind and name); they apply in order",
        "before v1.14, `hazards.repeated_documents` reports a patch file that repeats a document",
        "1a075383a",
    ),
    Change(
        "accept_mode_conntrack",
        ((1, 14, 0),),
        "accept mode also accepts established/related and drops invalid connections (#13926); before, "
        "replies to the node's own connections meet the rules like new connections",
        "`nft` emits the rules from v1.14.0; `query` of an established connection before it says so",
        "55e0f6350 (PR #14048, in v1.14.0-rc.2; no v1.13 backport)",
    ),
    Change(
        "kube_network_documents",
        ((1, 14, 0),),
        "a whole machine config with neither cluster.network nor a KubeNetworkConfig document has no "
        "Kubernetes network: no pod/service (and no host DNS) accept rule, and no kubelet; before v1.14 "
        "Talos uses its defaults 10.244.0.0/16 and 10.96.0.0/12 then",
        "the config context of such a config has no pod or service subnets (before v1.14: the defaults, "
        "named as Talos's)",
        "c3052e845; Config.K8sNetworkConfig in v1alpha1/v1alpha1_k8s_bridge.go (nil without "
        "cluster.network), nftables_chain_config.go and k8s/kubelet_config.go (nothing without it), "
        "v1.14.0-rc.1",
    ),
    Change(
        "nts_default",
        ((1, 14, 0),),
        "time sync uses NTS by default (time.cloudflare.com): NTS key exchange on 4460/tcp, then NTP on 123/udp; "
        "servers set in a TimeSyncConfig use NTS only with useNTS: true, machine.time.servers never",
        "exports allow 4460/tcp egress beside 123/udp (to --ntp-server where the router can narrow it)",
        "getDefault in controllers/network/timeserver_config.go (UseNTS = true, constants.DefaultNTPServer), "
        "NTPConfig.UseNTS in pkg/machinery/config/types/network/time_sync.go (v1.14.0-rc.1); "
        "beevik/nts defaultNtsPort 4460 (RFC 8915)",
    ),
)
_CHANGE = {change.key: change for change in CHANGES}


@dataclass(frozen=True, order=True)
class TalosVersion:
    """One Talos release (``v1.9.6``) or ``main``; its properties are the firewall behaviours.

    Ordered: releases by number, ``main`` after every release.
    """

    minor: int
    patch: int
    is_main: bool = False

    @property
    def name(self) -> str:
        """``v1.9.6`` or ``main``."""
        return MAIN_NAME if self.is_main else f"v1.{self.minor}.{self.patch}"

    @property
    def display(self) -> str:
        """How headers and ``--help`` name it: ``v1.14.0`` or ``main (v1.15 development, ...)``."""
        return MAIN_DISPLAY if self.is_main else self.name

    @property
    def line(self) -> str:
        """The release line, ``v1.9``; ``main`` for main."""
        return MAIN_NAME if self.is_main else f"v1.{self.minor}"

    def __str__(self) -> str:
        return self.display

    def has(self, key: str) -> bool:
        """Whether this version has the change ``key`` (a ``CHANGES`` key)."""
        return _CHANGE[key].in_version(self)

    @property
    def ingress_priority(self) -> int:
        """-140 (``mangle + 10``) from v1.9.4 / v1.10.0, ``filter`` (0) before."""
        return -150 + 10 if self.has("ingress_priority") else 0

    @property
    def prerouting_chain(self) -> bool:
        return self.has("prerouting_chain")

    @property
    def icmp_cve_drop(self) -> bool:
        return self.has("icmp_cve_drop")

    @property
    def host_dns(self) -> bool:
        return self.has("host_dns")

    @property
    def host_dns_v6(self) -> bool:
        return self.has("host_dns_v6")

    @property
    def accept_mode_conntrack(self) -> bool:
        return self.has("accept_mode_conntrack")

    @property
    def range_end_crash(self) -> bool:
        """A set ending at port 65535 or the last address crash-loops the controller (#12890)."""
        return not self.has("range_end_fixed")

    @property
    def enobufs_rule_limit(self) -> int | None:
        """The nft rule count above which Flush() can fail with ENOBUFS; ``None`` once fixed."""
        return None if self.has("enobufs_fixed") else ENOBUFS_RULE_LIMIT

    @property
    def patch_delete(self) -> bool:
        return self.has("patch_delete")

    @property
    def duplicate_documents_in_patch(self) -> bool:
        return self.has("duplicate_documents_in_patch")

    @property
    def kube_network_documents(self) -> bool:
        """A whole config without cluster.network or KubeNetworkConfig has no Kubernetes network (v1.14)."""
        return self.has("kube_network_documents")

    @property
    def nts_default(self) -> bool:
        """Time sync defaults to NTS (key exchange on 4460/tcp) from v1.14."""
        return self.has("nts_default")


MAIN = TalosVersion(NEWEST_MINOR + 1, 0, is_main=True)
RELEASES: tuple[TalosVersion, ...] = tuple(
    TalosVersion(minor, patch) for minor, newest in sorted(NEWEST_PATCH.items()) for patch in range(newest + 1)
)
DEFAULT_VERSION: TalosVersion = RELEASES[-1]
DEFAULT_VERSION_NAME: str = DEFAULT_VERSION.display
# The newest patch of each line, then main: what a support matrix or a test sweeps.
LINE_VERSIONS: tuple[TalosVersion, ...] = (
    *(TalosVersion(minor, patch) for minor, patch in sorted(NEWEST_PATCH.items())),
    MAIN,
)


@dataclass(frozen=True)
class VersionChoice:
    """A parsed ``--talos-version``: the version modelled and, maybe, a warning to print."""

    version: TalosVersion
    warning: str | None = None


_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
_OLDER = (
    "Talos {given} is older than v1.8: no $patch: delete, lists appended on merge before v1.7, "
    "adjacent ports not merged (#9009); talospatch models v1.8.0 and newer"
)


def parse_talos_version(text: str | None) -> VersionChoice:
    """``X.Y`` / ``X.Y.Z`` (optional ``v``) or ``main``; ``None`` or empty: the default.

    ``X.Y`` is the newest known patch release of that line. Older than v1.8: ``BadInput``.
    A patch newer than the newest known on its line is modelled as that newest one, and a
    newer line (v1.15 and later) as ``main`` (the newest code read), each with a warning.
    """
    if text is None or not text.strip():
        return VersionChoice(DEFAULT_VERSION)
    given = text.strip()
    if given.lower() == MAIN_NAME:
        return VersionChoice(MAIN)
    match = _VERSION_RE.fullmatch(given)
    if match is None:
        raise BadInput(
            f"invalid Talos version {given!r}: want X.Y or X.Y.Z (e.g. 1.9 or v1.13.9) or main; "
            f"known: v1.{OLDEST_MINOR}.0 to {DEFAULT_VERSION.name} and main"
        )
    major, minor = int(match.group(1)), int(match.group(2))
    patch = None if match.group(3) is None else int(match.group(3))
    shown = f"v{major}.{minor}" + ("" if patch is None else f".{patch}")
    if major < 1 or (major == 1 and minor < OLDEST_MINOR):
        raise BadInput(_OLDER.format(given=shown))
    if major > 1 or minor > NEWEST_MINOR:
        return VersionChoice(
            MAIN,
            f"Talos {shown} is newer than any release talospatch knows ({DEFAULT_VERSION.name}): "
            f"modelled as {MAIN_DISPLAY}",
        )
    newest = NEWEST_PATCH[minor]
    if patch is None:
        return VersionChoice(TalosVersion(minor, newest))
    if patch > newest:
        return VersionChoice(
            TalosVersion(minor, newest),
            f"Talos {shown} is newer than the newest v1.{minor} release talospatch knows "
            f"(v1.{minor}.{newest}): modelled as v1.{minor}.{newest}",
        )
    return VersionChoice(TalosVersion(minor, patch))


def resolve(version: TalosVersion | str | None) -> TalosVersion:
    """A ``TalosVersion`` from a version, a version string (warnings dropped) or ``None``."""
    if isinstance(version, TalosVersion):
        return version
    return parse_talos_version(version).version


def support_matrix() -> list[tuple[str, str, str]]:
    """(first release, what differs, what talospatch does) per change, oldest first."""
    return [(change.first, change.effect, change.action) for change in CHANGES]
