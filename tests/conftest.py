"""Shared pytest helpers.

``require_netns_nft()`` is the one capability check for tests that load rulesets into the
real kernel: they need root, the ``nft`` and ``ip`` binaries, and permission to create a
network namespace. When something is missing the test is skipped with the reason, except
under CI (``CI=true``), where a missing capability is a failure: CI must run them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid

import pytest


@functools.cache
def netns_nft_missing() -> str | None:
    """Why kernel nftables tests cannot run here, or ``None`` when they can.

    Probes once per session by creating and deleting a throw-away namespace.
    """
    if os.geteuid() != 0:
        return "needs root (nft and ip netns)"
    for tool in ("nft", "ip"):
        if shutil.which(tool) is None:
            return f"needs the {tool!r} binary on PATH"
    probe = f"tp-probe-{uuid.uuid4().hex[:8]}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if added.returncode != 0:
        return f"cannot create a network namespace: {added.stderr.strip()}"
    try:
        listed = subprocess.run(
            ["ip", "netns", "exec", probe, "nft", "list", "ruleset"],
            capture_output=True,
            text=True,
        )
        if listed.returncode != 0:
            return f"nft does not work in a namespace: {listed.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def require_netns_nft() -> None:
    """Skip the calling test when kernel nftables tests cannot run; fail instead under CI."""
    reason = netns_nft_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture
def netns_nft() -> None:
    """Fixture form of :func:`require_netns_nft`."""
    require_netns_nft()
