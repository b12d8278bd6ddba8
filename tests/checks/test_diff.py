"""``talospatch diff`` and ``traffic_diff``: exact traffic changes, nothing for equivalent rewrites."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talospatch.checks.diff import Change, render_markdown, traffic_diff
from talospatch.nft.compile import NodeContext
from talospatch.nft.reach import Reach
from talospatch.talos.documents import Action, Firewall, IngressRule, PortRange, PortSelector, RuleConfig
from testing.documents import firewall, rule
from testing.runner import error_message, ok, run

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = NodeContext()

# Small worlds so that random rules overlap: two /24s and two /64s, a few ports.
V4 = [ipaddress.ip_network(n) for n in ("10.0.0.0/24", "10.0.0.0/25", "10.0.0.128/26", "10.0.1.0/24", "0.0.0.0/0")]
V6 = [ipaddress.ip_network(n) for n in ("fd00::/64", "fd00::/65", "fd00:0:0:1::/64", "::/0")]
PORTS = [80, 443, 444, 445, 6443, 10250, 50000]


@st.composite
def rules(draw: st.DrawFn, index: int) -> RuleConfig:
    ports = draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=3, unique=True))
    subnets = draw(st.lists(st.sampled_from(V4 + V6), min_size=0, max_size=3, unique=True))
    return RuleConfig(
        name=f"r{index}",
        portSelector=PortSelector(
            ports=tuple(PortRange(p, p) for p in sorted(ports)), protocol=draw(st.sampled_from(["tcp", "udp"]))
        ),
        ingress=tuple(IngressRule(subnet=s) for s in subnets),
    )


@st.composite
def firewalls(draw: st.DrawFn) -> Firewall:
    count = draw(st.integers(min_value=0, max_value=4))
    action: Action = draw(st.sampled_from(["block", "accept"]))
    return Firewall(action, tuple(draw(rules(i)) for i in range(count)))


def _split(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return list(net.subnets()) if net.prefixlen < net.max_prefixlen else [net]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fw=firewalls(), data=st.data())
def test_equivalent_rewrites_change_nothing(fw: Firewall, data: st.DataObject) -> None:
    """Reordered, renamed, ports split into one rule each, subnets split in halves: no change."""
    rewritten: list[RuleConfig] = []
    for r in fw.rules:
        subnets = [half for s in r.subnets for half in _split(s)]
        ingress = tuple(IngressRule(subnet=s) for s in subnets)
        if data.draw(st.booleans(), label=f"split ports of {r.name}") and ingress:
            for port in r.ports:
                rewritten.append(
                    RuleConfig(
                        name=f"{r.name}-{port.lo}-renamed",
                        portSelector=PortSelector(ports=(port,), protocol=r.protocol),
                        ingress=ingress,
                    )
                )
        else:
            rewritten.append(dataclasses.replace(r, name=f"renamed-{r.name}", ingress=ingress))
    shuffled = data.draw(st.permutations(rewritten), label="order")
    assert traffic_diff(fw, dataclasses.replace(fw, rules=tuple(shuffled)), CONTEXT) == []


def _changed(
    changes: list[Change], source: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, proto: str
) -> list[Change]:
    return [c for c in changes if c.protocol == proto and port in c.ports and any(source in n for n in c.sources)]


POINTS = st.tuples(
    st.sampled_from(
        [ipaddress.ip_address(a) for a in ("10.0.0.1", "10.0.0.130", "10.0.0.200", "10.0.1.9", "8.8.8.8", "10.244.0.5")]
        + [ipaddress.ip_address(a) for a in ("fd00::1", "fd00::8000:0:0:1", "fd00:0:0:1::1", "2001:db8::9")]
    ),
    st.sampled_from([*PORTS, 53, 81, 443, 65535]),
    st.sampled_from(["tcp", "udp"]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=firewalls(), new=firewalls(), points=st.lists(POINTS, min_size=1, max_size=12))
def test_changes_are_exactly_what_reach_says(
    old: Firewall, new: Firewall, points: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int, str]]
) -> None:
    changes = traffic_diff(old, new, CONTEXT)
    before, after = Reach(old, CONTEXT), Reach(new, CONTEXT)
    for source, port, proto in points:
        was = before.query(source, port, proto).allowed
        now = after.query(source, port, proto).allowed
        found = _changed(changes, source, port, proto)
        if was == now:
            assert found == [], (source, port, proto)
        else:
            assert len(found) == 1, (source, port, proto, found)
            assert found[0].gained == now


def test_changes_are_merged_into_cidrs_and_named_by_rule() -> None:
    old = firewall(
        "block",
        rule("apid-ingress", [50000], "tcp", "192.168.30.0/24"),
        rule("kubelet-ingress", [10250], "tcp", "0.0.0.0/0"),
    )
    new = firewall(
        "block",
        rule("apid-ingress", [50000], "tcp", "192.168.30.0/25", "192.168.30.128/25"),
        rule("kubernetes-api-ingress", [6443], "tcp", "196.45.28.20/32"),
        rule("kubelet-ingress", [10250], "tcp", "192.168.30.0/24"),
    )
    assert [str(c) for c in traffic_diff(old, new)] == [
        "+ 196.45.28.20/32 gains 6443/tcp (kubernetes-api-ingress)",
        "- 0.0.0.0/0 except 192.168.30.0/24 loses 10250/tcp (kubelet-ingress)",
    ]


def test_port_ranges_are_merged() -> None:
    old = firewall("block", rule("a", ["8000-8099"], "udp", "10.0.0.0/8"))
    new = firewall("block", rule("a", ["8000-8009", 8010, "8011-8099", 9000], "udp", "10.0.0.0/8"))
    assert [str(c) for c in traffic_diff(old, new)] == ["+ 10.0.0.0/8 gains 9000/udp (a)"]


def test_markdown_is_a_table() -> None:
    old = firewall("block")
    new = firewall("block", rule("kubernetes-api-ingress", [6443], "tcp", "196.45.28.20/32"))
    assert render_markdown(traffic_diff(old, new), "t") == (
        "### t\n\n1 gained, 0 lost.\n\n"
        "| | sources | port | protocol | through rule |\n|---|---|---|---|---|\n"
        "| ➕ gains | `196.45.28.20/32` | 6443 | tcp | `kubernetes-api-ingress` |\n"  # noqa: RUF001
    )
    assert render_markdown([], "t") == "### t\n\nNo traffic changes: every source reaches the same ports as before.\n"


# -- the command


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_same_file_is_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "diff", str(ROOT / "out/worker.yaml"), str(ROOT / "out/worker.yaml")))
    assert result.out == ""


def test_rename_and_reorder_is_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (ROOT / "out/worker.yaml").read_text()
    documents = text.split("---\n")
    renamed = [documents[0], *reversed(documents[1:])]
    new = _write(tmp_path, "new.yaml", "---\n".join(d.replace("name: ", "name: x-") for d in renamed))
    result = ok(run(capsys, "diff", str(ROOT / "out/worker.yaml"), new))
    assert result.out == ""


def test_changes_are_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "diff", str(ROOT / "out/controlplane.yaml"), str(ROOT / "out/worker.yaml"))
    assert result.code == 1
    assert result.err == ""
    assert "- 192.168.30.11/32, 192.168.30.12/31 loses 2379-2380/tcp (etcd-ingress)" in result.out_lines
    assert "- 192.168.30.0/24 loses 50001/tcp (trustd-ingress)" in result.out_lines


def test_markdown_and_json_formats(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(ROOT / "out/controlplane.yaml"), str(ROOT / "out/worker.yaml")]
    markdown = run(capsys, "diff", "--format", "markdown", *args)
    assert markdown.code == 1
    assert "| ➖ loses | `192.168.30.0/24` | 50001 | tcp | `trustd-ingress` |" in markdown.out_lines  # noqa: RUF001
    data = run(capsys, "diff", "--format", "json", *args)
    assert data.code == 1
    changes = json.loads(data.out)["changes"]
    assert {
        "change": "loses",
        "sources": ["192.168.30.0/24"],
        "ports": "50001",
        "protocol": "tcp",
        "rule": "trustd-ingress",
    } in changes


def test_machineconfig_resource_is_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    resource = Path(__file__).resolve().parents[1] / "fixtures" / "check" / "community" / "machineconfig-resource.yaml"
    new = _write(
        tmp_path,
        "new.yaml",
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: apid-ingress\nportSelector:\n    ports: [50000]\n"
        "    protocol: tcp\ningress:\n    - subnet: 10.0.0.0/16\n---\napiVersion: v1alpha1\nkind: "
        "NetworkDefaultActionConfig\ningress: block\n",
    )
    result = run(capsys, "diff", str(resource), new)
    assert result.code == 1
    assert result.out == "- 10.0.0.0/16 loses 6443/tcp (kubernetes-api-ingress)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "html", "a", "b"], "--format 'html' is not a format; valid: text, markdown, json"),
        (["-", "-"], "only one of OLD and NEW can be '-' (standard input)"),
        (["nope.yaml", "out/worker.yaml"], "nope.yaml: no such file"),
    ],
    ids=["format", "two-stdin", "missing"],
)
def test_bad_input_is_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(ROOT)
    assert error_message(run(capsys, "diff", *args)) == message


def test_markdown_says_everyone_except_when_shorter() -> None:
    old = firewall("block", rule("apid-ingress", [50000], "tcp", "192.168.30.0/24"))
    new = firewall("block", rule("apid-ingress", [50000], "tcp", "0.0.0.0/0"))
    table = render_markdown(traffic_diff(old, new), "t")
    assert "| ➕ gains | `0.0.0.0/0 except 192.168.30.0/24` | 50000 | tcp | `apid-ingress` |" in table.splitlines()  # noqa: RUF001
