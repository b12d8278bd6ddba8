"""The firewall behind ``nft`` and ``query``: patch files or gen's options, never both."""

from __future__ import annotations

import pytest

from talospatch.cli.params import GEN_OPTIONS
from testing.cluster import ADMIN, OUTSIDER, QUERY_OK, SUBNET, WORKER_PATCH
from testing.runner import Cli, error_message


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        pytest.param(["--role", "worker"], ["patch files", "--role", "not both"], id="role"),
        pytest.param(["--role", "worker", "--subnet", SUBNET], ["patch files", "--role", "not both"], id="role-subnet"),
        pytest.param(["--admin", ADMIN], ["--admin", "patch files"], id="admin"),
        pytest.param(["--subnet", SUBNET], ["--subnet", "patch files"], id="subnet"),
        pytest.param(["--with", "hubble"], ["--with", "patch files"], id="with"),
    ],
)
def test_query_patch_files_with_gen_options(cli: Cli, extra: list[str], fragments: list[str]) -> None:
    message = error_message(cli("query", str(WORKER_PATCH), *QUERY_OK, *extra))
    for fragment in fragments:
        assert fragment in message, message


# A value for each of gen's profile options; None for a flag.
PROFILE_OPTION_VALUES = {
    "--cni": "flannel",
    "--tunnel": "vxlan",
    "--subnet": SUBNET,
    "--controlplane": "192.168.30.11",
    "--workers": SUBNET,
    "--admin": ADMIN,
    "--nodeport-from": OUTSIDER,
    "--bgp-peer": "192.168.30.1",
    "--load-balancer": "203.0.113.0/28",
    "--kubespan-peer": "203.0.113.7",
    "--nodeport": None,
    "--converged": None,
    "--compact": None,
    "--dns-over-tls": None,
    "--with": "hubble",
    "--profiles-dir": ".",
    "--prune-from": "node.yaml",
}


@pytest.mark.parametrize("command", ["nft", "query"])
@pytest.mark.parametrize("flag", sorted(o.flag for o in GEN_OPTIONS if not o.with_patch_files))
def test_profile_options_are_refused_beside_patch_files(cli: Cli, command: str, flag: str) -> None:
    value = PROFILE_OPTION_VALUES[flag]
    extra = QUERY_OK if command == "query" else []
    args = [command, str(WORKER_PATCH), *extra, flag, *([] if value is None else [value])]
    message = error_message(cli(*args))
    assert message == f"{flag} is an option of gen's profiles; with patch files it does not apply"


def test_query_neither_files_nor_role(cli: Cli) -> None:
    message = error_message(cli("query", *QUERY_OK))
    assert "patch files" in message
    assert "--role" in message
    # gen options without --role are no firewall either.
    message = error_message(cli("query", *QUERY_OK, "--subnet", SUBNET))
    assert "--role" in message
