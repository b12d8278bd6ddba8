"""Every generated document validates against Talos's published config JSON schema.

The schemas live in the workspace's ``shared/anchors`` folder beside the checkout; a
user's clone has no such folder, and only there is the test skipped.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from talospatch.cli.params import command_line
from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.profiles import Catalog
from talospatch.generate.render import render
from talospatch.yamlio import load_all

ANCHORS = Path(__file__).resolve().parents[3] / "shared" / "anchors"
SCHEMAS = sorted(ANCHORS.glob("talos-config*.schema.json"))


def _validator(path: Path) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _all_patches() -> list[tuple[str, str]]:
    catalog = Catalog.load()
    patches = []
    for role, cni in itertools.product(catalog.names("role"), catalog.names("cni")):
        addons = tuple(
            name
            for name in catalog.names("addon")
            if not catalog.get(name, "addon").profile.roles or role in catalog.get(name, "addon").profile.roles
        )
        opts = GenOptions(
            role=role,
            cni=cni,
            subnets=("192.168.30.0/24", "fd00:30::/64"),
            controlplane=("192.168.30.11",) if role == "controlplane" else (),
            admins=("196.45.28.20/32", "2001:DB8::/32"),
            pod_subnets=("10.244.0.0/16", "fd00:244::/56"),
            addons=addons,
        )
        generated = expand(opts, catalog)
        patches.append((f"{role}-{cni}", render(generated, command_line(generated.options))))
    return patches


@pytest.mark.skipif(not SCHEMAS, reason=f"Talos JSON schemas not found in {ANCHORS} (not part of a clone)")
@pytest.mark.parametrize("schema_path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_generated_documents_validate_against_talos_schema(schema_path: Path) -> None:
    validator = _validator(schema_path)
    checked = 0
    for label, text in _all_patches():
        for doc in load_all(text, label):
            errors = sorted(validator.iter_errors(doc), key=str)
            assert not errors, f"{label}: {doc.get('name', doc['kind'])}: {errors[0].message}"
            checked += 1
    assert checked > 50


@pytest.mark.skipif(not SCHEMAS, reason=f"Talos JSON schemas not found in {ANCHORS} (not part of a clone)")
def test_schema_rejects_what_talos_rejects() -> None:
    """The check above can fail: the schema does reject a malformed rule document."""
    validator = _validator(SCHEMAS[0])
    bad = {
        "apiVersion": "v1alpha1",
        "kind": "NetworkRuleConfig",
        "name": "x",
        "portSelector": {"ports": [80], "protocol": "sctp"},
        "ingress": [{"subnet": "10.0.0.0/8"}],
    }
    assert list(validator.iter_errors(bad))
    upper = {**bad, "portSelector": {"ports": [80], "protocol": "tcp"}, "ingress": [{"subnet": "FD00::/8"}]}
    assert list(validator.iter_errors(upper))
