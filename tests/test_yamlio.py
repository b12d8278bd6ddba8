"""yamlio's own writer for firewall documents gives ruamel's bytes, and leaves the rest to ruamel."""

from __future__ import annotations

import gc
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from talospatch import yamlio
from talospatch.cli.params import command_line
from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.generate.options import GenOptions

WORDS = st.sampled_from(["name", "kind", "subnet", "except", "ports", "protocol", "yes", "No", "null", "on", "1", ""])
TEXT = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "._/-: #'\"!&*?|>%@`{}[],~=", max_size=12),
    st.text(max_size=6),
    st.from_regex(r"[0-9a-fA-F:.]{1,12}/[0-9]{1,4}", fullmatch=True),
    st.from_regex(r"[A-Za-z][A-Za-z0-9._/-]{0,110}", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,5}(-[0-9]{0,5}){0,2}", fullmatch=True),
    st.sampled_from(["true", "False", "NULL", "y", "N", "off", "~", "1e3", "0x1f", "0o7", ".inf", "1_000", "12:30"]),
)
SCALAR = st.one_of(TEXT, st.integers(min_value=-(10**6), max_value=10**6), st.booleans(), st.none())
FLAT = st.dictionaries(st.one_of(WORDS, TEXT), SCALAR, max_size=3)
VALUE = st.one_of(SCALAR, FLAT, st.lists(st.one_of(SCALAR, FLAT), max_size=4))
DOCUMENT = st.dictionaries(
    st.one_of(WORDS, TEXT), st.one_of(VALUE, st.dictionaries(WORDS, VALUE, max_size=3)), max_size=5
)
# Documents that stay on the writer's own path: only the shapes and scalars it handles.
KEY = st.from_regex(r"[A-Za-z][A-Za-z0-9._/-]{0,20}", fullmatch=True)
PLAIN = st.one_of(
    st.integers(min_value=0, max_value=65535),
    st.from_regex(r"[A-Za-z][A-Za-z0-9._/-]{0,99}", fullmatch=True),
    st.from_regex(yamlio._PLAIN, fullmatch=True),
    st.from_regex(r"[0-9A-Fa-f:.]{2,45}/[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"[0-9]{1,5}-[0-9]{1,5}", fullmatch=True),
)
PLAIN_FLAT = st.dictionaries(KEY, PLAIN, min_size=1, max_size=3)
PLAIN_VALUE = st.one_of(PLAIN, PLAIN_FLAT, st.lists(st.one_of(PLAIN, PLAIN_FLAT), min_size=1, max_size=4))
PLAIN_DOCUMENT = st.dictionaries(
    KEY, st.one_of(PLAIN_VALUE, st.dictionaries(KEY, PLAIN_VALUE, min_size=1, max_size=3)), min_size=1, max_size=5
)


@settings(max_examples=400, deadline=None)
@given(DOCUMENT)
def test_dump_writes_what_ruamel_writes(data: dict[str, Any]) -> None:
    assert yamlio.dump(data) == yamlio._dump_ruamel(data)


@settings(max_examples=400, deadline=None)
@given(PLAIN_DOCUMENT)
def test_the_writers_own_path_writes_what_ruamel_writes(data: dict[str, Any]) -> None:
    lines: list[str] = []
    try:
        yamlio._write(data, "", lines)
    except yamlio._Unusual:  # a YAML 1.1 word such as "yes" or "on"
        lines = []
    if lines:
        assert "\n".join(lines) + "\n" == yamlio._dump_ruamel(data)


def _documents() -> list[dict[str, Any]]:
    opts = GenOptions(
        role="controlplane",
        tunnel="both",
        subnets=("192.168.30.0/24", "fd00:30::/64"),
        controlplane=("192.168.30.11", "192.168.30.12", "fd00:30::11"),
        admins=("196.45.28.20", "2001:db8:45::/48"),
        pod_subnets=("10.244.0.0/16", "fd00:244::/56"),
        addons=("etcd-metrics", "hubble", "ingress-http"),
    )
    generated = expand(opts)
    assert command_line(generated.options)
    return [rule.document.to_yaml() for rule in generated.rules]


@pytest.mark.parametrize("data", _documents(), ids=lambda d: d["name"])
def test_firewall_documents_need_no_ruamel(monkeypatch: pytest.MonkeyPatch, data: dict[str, Any]) -> None:
    expected = yamlio._dump_ruamel(data)

    def refuse(_: dict[str, Any]) -> str:
        raise AssertionError("fell back to ruamel")

    monkeypatch.setattr(yamlio, "_dump_ruamel", refuse)
    assert yamlio.dump(data) == expected
    assert yamlio.load_one(expected, "test") == data


def test_except_and_ranges_are_written_as_ruamel_writes_them() -> None:
    data = {
        "name": "etcd-ingress",
        "portSelector": {"ports": [2379, "2379-2380", "30000-32767"], "protocol": "tcp"},
        "ingress": [{"subnet": "0.0.0.0/0", "except": "10.0.0.0/8"}, {"subnet": "::/0"}],
    }
    assert yamlio.dump(data) == yamlio._dump_ruamel(data)
    assert '- "2379-2380"' in yamlio.dump(data)


def test_documents_are_read_as_yaml_1_2_whatever_the_directive() -> None:
    text = "a: yes\nb: off\nc: 010\nd: 50000\ne: '80'\n"
    expected = {"a": "yes", "b": "off", "c": 10, "d": 50000, "e": "80"}
    assert yamlio.load_one(text, "t") == expected
    assert yamlio.load_one("%YAML 1.1\n---\n" + text, "t") == expected


def test_loading_uses_the_c_parser() -> None:
    from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]

    assert issubclass(yamlio._CSafeLoader, CParser)
    assert yamlio._c_load("a: [1, '2']\n---\n---\nb: {}\n") == [{"a": [1, "2"]}, {"b": {}}]


def test_reading_leaves_no_garbage_for_the_collector() -> None:
    """A loader refers to itself; left to the collector, thousands of them held megabytes."""
    text = (Path(__file__).resolve().parents[1] / "out" / "controlplane.yaml").read_text(encoding="utf-8")
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(5):
            yamlio.load_all(text, "out/controlplane.yaml")
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_yaml_libyaml_refuses_is_read_as_yaml_1_2() -> None:
    # libyaml refuses a URL in a flow-style mapping; the YAML Talos reads accepts it.
    text = "rules:\n  - {name: spegel, source: https://spegel.dev/docs/}\n"
    with pytest.raises(YAMLError):
        yamlio._c_load(text)
    assert yamlio.load_all(text, "f") == [{"rules": [{"name": "spegel", "source": "https://spegel.dev/docs/"}]}]


def _ruamel_reads(text: str) -> list[Any]:
    """What ruamel's own safe loader (the C parser, YAML 1.2) reads: the reference."""
    yaml = YAML(typ="safe")
    yaml.Resolver = yamlio._Yaml12Resolver
    yaml.allow_duplicate_keys = False
    return [doc for doc in yaml.load_all(text) if doc is not None]


PLAIN_STREAMS = {
    "scalars": "a: 1\nb: -2\nc: 0o17\nd: 0x1F\ne: 1.5\nf: .inf\ng: -.Inf\nh: 1e3\ni: true\nj: False\nk: ~\nl: null\n"
    "m:\nn: yes\no: 010\np: '80'\nq: \"2379-2380\"\nr: 2379-2380\ns: 10.0.0.0/8\nt: fd00::/64\nu: +12\n",
    "quoted and block": "a: 'true'\nb: \"null\"\nc: |\n  two\n  lines\nd: >\n  folded\n  text\ne: ''\n",
    "nested": "x:\n  - {a: 1, b: [2, 3]}\n  - [4, {c: d}]\n  - []\n  - {}\ny: {1: one, 1.5: x, false: f, null: n}\n",
    "documents": "---\n---\na: 1\n...\n--- 5\n---\n- x\n",
    "a scalar document": "just text\n",
    "comments": "# header\na: 1 # trailing\n# between\n---\n# only a comment\n",
    "directive": "%YAML 1.1\n---\na: yes\nb: 010\n",
}
NOT_PLAIN_STREAMS = {
    "anchor and alias": "a: &x [1]\nb: *x\n",
    "tag": "a: !!str 1\n",
    "local tag": "a: !thing x\n",
    "merge key": "base: &b {a: 1}\nc:\n  <<: *b\n",
    "timestamp": "a: 2001-12-14\n",
    "collection key": "? [a, b]\n: c\n",
    "duplicate key": "a: 1\na: 2\n",
    "equal keys": "1: a\n0x1: b\n",
}


@pytest.mark.parametrize("text", PLAIN_STREAMS.values(), ids=PLAIN_STREAMS.keys())
def test_the_plain_reader_reads_what_ruamel_reads(text: str) -> None:
    documents = yamlio._plain_load(text)
    assert documents is not None
    assert repr(documents) == repr(_ruamel_reads(text))  # repr: 1 and True, 1 and 1.0 differ


@pytest.mark.parametrize("text", NOT_PLAIN_STREAMS.values(), ids=NOT_PLAIN_STREAMS.keys())
def test_what_is_not_plain_is_left_to_ruamel(text: str) -> None:
    assert yamlio._plain_load(text) is None
    try:
        expected: object = _ruamel_reads(text)
    except YAMLError:
        with pytest.raises(BadInput, match="invalid YAML"):
            yamlio.load_all(text, "t")
    else:
        assert repr(yamlio.load_all(text, "t")) == repr(expected)


@settings(max_examples=400, deadline=None)
@given(DOCUMENT)
def test_the_plain_reader_reads_any_dumped_document_as_ruamel(data: dict[str, Any]) -> None:
    text = yamlio._dump_ruamel(data)
    documents = yamlio._plain_load(text)
    if documents is not None:  # None: a timestamp-like string, left to ruamel
        assert repr(documents) == repr(_ruamel_reads(text))


def test_the_pure_parser_reads_on_after_an_error() -> None:
    # A flow mapping with a URL goes to the pure-Python parser (libyaml refuses it); one that
    # is broken must not leave that parser unusable for the next file.
    with pytest.raises(BadInput):
        yamlio.load_all("{source: https://example.com/a, ports: [80}\n", "broken.yaml")
    assert yamlio.load_all("{source: https://example.com/b}\n", "good.yaml") == [{"source": "https://example.com/b"}]
