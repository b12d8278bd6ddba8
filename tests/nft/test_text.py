"""talospatch.nft.text: a ruleset as ``nft -f`` text, in ``nft list ruleset`` (nftables 1.0.6) form.

tests/nft/test_text_kernel.py loads the same text into the kernel and compares what it lists.
"""

from __future__ import annotations

import re

import pytest

from talospatch.nft.compile import compile_firewall
from talospatch.nft.text import priority_text, render
from testing.documents import firewall
from testing.nftreference import APID_2_7, KUBELET_2_7, LISTED_2_7, NODE


def test_reference_2_7_render_is_exactly_what_nft_lists_back() -> None:
    ruleset = compile_firewall(firewall("block", KUBELET_2_7, APID_2_7), NODE)
    assert render(ruleset, header=False) == LISTED_2_7


def test_render_header_names_the_modelled_talos_version() -> None:
    text = render(compile_firewall(firewall("block", APID_2_7), NODE, "main"))
    assert text.startswith("# table inet talos as Talos main (v1.15 development, after 55e0f6350) builds it\n")
    assert "flush" not in text
    assert "delete" not in text


def test_comments_name_each_rule_origin_and_change_nothing_else() -> None:
    ruleset = compile_firewall(firewall("block", KUBELET_2_7, APID_2_7), NODE)
    plain, commented = render(ruleset), render(ruleset, comments=True)
    assert "comment" not in plain
    assert '\t\tmeta nfproto ipv4 tcp dport 50000 counter accept comment "NetworkRuleConfig/apid-ingress"' in (
        commented.splitlines()
    )
    assert [re.sub(r' comment "[^"]*"$', "", line) for line in commented.splitlines()] == plain.splitlines()
    rules = [line for line in commented.splitlines() if line.startswith("\t\t") and not line.startswith("\t\ttype ")]
    assert rules
    assert all(re.search(r' comment "[^"]+"$', line) for line in rules)


def test_render_is_deterministic() -> None:
    fw = firewall("accept", KUBELET_2_7, APID_2_7)
    assert render(compile_firewall(fw, NODE)) == render(compile_firewall(fw, NODE))


@pytest.mark.parametrize(
    ("priority", "text"),
    [
        pytest.param(-140, "mangle + 10", id="ingress"),
        pytest.param(-110, "dstnat - 10", id="prerouting"),
        pytest.param(0, "filter", id="filter"),
        pytest.param(-150, "mangle", id="mangle"),
        pytest.param(-200, "-200", id="no-name"),
    ],
)
def test_priority_text(priority: int, text: str) -> None:
    assert priority_text(priority) == text
