"""The export targets' registry: one line per target, the only place that names one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from talospatch import registry
from talospatch.errors import BadInput
from talospatch.export import render, target_module
from talospatch.generate.options import GenOptions
from testing.exportnft import build_cluster_cli

PACKAGE = Path(registry.__file__).parent
REFERENCE = GenOptions(subnets=("192.168.30.0/24",), controlplane=("192.168.30.11",), admins=("196.45.28.20/32",))


def test_every_target_renders_files_and_says_whether_it_writes_one() -> None:
    assert registry.NAMES == (
        "aws-terraform",
        "proxmox",
        "proxmox-terraform",
        "pfsense",
        "opnsense",
        "talos-terraform",
        "omni",
    )
    cluster = build_cluster_cli(REFERENCE)
    for target in registry.TARGETS:
        files = render(target.name, cluster).files
        assert files, target.name
        assert all(text.endswith("\n") for text in files.values()), target.name
        assert target.single_file == (len(files) == 1), target.name


def test_a_target_declares_only_options_that_exist() -> None:
    for target in registry.TARGETS:
        assert set(target.options) <= set(registry.ExportOptions._fields), target.name
        assert callable(target_module(target.name).render)


def test_unknown_target() -> None:
    with pytest.raises(BadInput) as info:
        registry.target("junos")
    assert str(info.value) == (
        "unknown export target 'junos'; valid: aws-terraform, omni, opnsense, pfsense, proxmox, proxmox-terraform, "
        "talos-terraform"
    )
    assert not registry.takes("junos", "cluster_interface")


@pytest.mark.parametrize(
    ("option", "where"),
    [
        ("cluster_interface", "the pfsense and opnsense targets only"),
        ("merge_into", "the pfsense and omni targets only"),
        ("inline", "the omni target only"),
        ("current_rules", "the opnsense target only"),
        ("patches_dir", "the talos-terraform target only"),
    ],
)
def test_where_an_option_applies(option: str, where: str) -> None:
    assert registry.only(option) == where


def test_names_as_a_sentence() -> None:
    assert registry.names_text() == (
        "aws-terraform, proxmox, proxmox-terraform, pfsense, opnsense, talos-terraform or omni"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (registry.ExportOptions(cluster_interface="opt 1"), "--cluster-interface 'opt 1' is not an interface name"),
        (registry.ExportOptions(from_interfaces=("lan", "w@n")), "--from-interface 'w@n' is not an interface name"),
        (registry.ExportOptions(from_interfaces=()), "--from-interface: give at least one interface"),
    ],
)
def test_interfaces_are_checked(options: registry.ExportOptions, message: str) -> None:
    with pytest.raises(BadInput) as info:
        registry.interfaces(options)
    assert str(info.value).startswith(message)


def test_interfaces_are_named_once_each() -> None:
    assert registry.interfaces(registry.ExportOptions(from_interfaces=("lan", "wan", "lan"))) == (
        "opt1",
        ("lan", "wan"),
    )


NAME = re.compile(rf"""(["'])({"|".join(re.escape(name) for name in registry.NAMES)})\1""")
BRANCH = re.compile(r"\btarget\b(\.name)?\s*(==|!=|\bin\b|\bnot in\b)\s*[(\[{\"']")


def offences(path: Path) -> list[str]:
    """Code lines of a module that name a target, or compare a target with a literal. A target's own
    modules (``pfsense.py``, ``pfsense_merge.py``) may say its name: pfSense's root element is ``<pfsense>``."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'"""(.|\n)*?"""', lambda m: "\n" * m.group(0).count("\n"), text)  # docstrings
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        names = [m.group(2) for m in NAME.finditer(code)]
        foreign = [name for name in names if not path.stem.startswith(registry.target(name).module)]
        if foreign or BRANCH.search(code):
            found.append(f"{path.name}:{n}: {line.strip()}")
    return found


def test_no_module_branches_on_a_target() -> None:
    """Adding a target touches its module and its registry line: no other code names a target
    or compares a target's name (``if target == "pfsense"``, ``target in ("pfsense", ...)``)."""
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "registry.py"]
    assert len(modules) > 50
    assert [line for path in modules for line in offences(path)] == []


def test_the_branch_check_sees_a_branch(tmp_path: Path) -> None:
    # The control for the test above: it finds the branching it forbids.
    module = tmp_path / "export.py"
    module.write_text(
        'if target == "pfsense":\n    pass\nif target.name in (a, b):\n    pass\nx = "opnsense"  # "aws-terraform"\n'
    )
    assert [line.split(":")[1] for line in offences(module)] == ["1", "3", "5"]
    (tmp_path / "opnsense_x.py").write_text('root = "opnsense"\n')
    assert offences(tmp_path / "opnsense_x.py") == []
