"""talospatch.decode: the one hand decoder; errors name the key path and the value."""

from __future__ import annotations

import pytest

from talospatch.decode import DecodeError, Fields, dotted


@pytest.mark.parametrize(
    ("path", "plain", "indexed"),
    [
        pytest.param(("ingress", 0, "subnet"), "ingress.subnet", "ingress[0].subnet", id="index-in-the-middle"),
        pytest.param(("spec", "rules", 3), "spec.rules", "spec.rules[3]", id="index-last"),
        pytest.param((0, "x"), "x", "[0].x", id="index-first"),
    ],
)
def test_dotted_paths(path: tuple[str | int, ...], plain: str, indexed: str) -> None:
    assert dotted(path) == plain
    assert dotted(path, indexes=True) == indexed


def test_nested_errors_name_the_whole_path() -> None:
    data = {"spec": {"rules": [{"verdict": "accept"}, {"verdict": "Allow"}]}}
    spec = Fields(data, (), None).mapping("spec", ("rules",))
    rules = [Fields(item, (*spec.path, "rules", i), ("verdict",)) for i, item in enumerate(spec.items("rules"))]
    assert rules[0].choice("verdict", ("accept", "drop"), fold_case=True) == "accept"
    with pytest.raises(DecodeError) as err:
        rules[1].choice("verdict", ("accept", "drop"))
    assert err.value.describe(indexes=True) == "spec.rules[1].verdict: must be accept or drop, not 'Allow'"


def test_fold_case_reports_the_value_as_written() -> None:
    fields = Fields({"hook": "INPUT", "states": ["New", "bogus"]}, (), None)
    assert fields.choice("hook", ("prerouting", "input"), fold_case=True) == "input"
    with pytest.raises(DecodeError, match=r"^states: must be new or invalid, not 'bogus'$"):
        fields.choices("states", ("new", "invalid"), fold_case=True)


def test_integers_from_text_only_when_asked() -> None:
    fields = Fields({"lo": "80", "types": [13, "300"]}, (), ("lo", "types"))
    assert fields.integer("lo", 0, 65535, from_text=True) == 80
    with pytest.raises(DecodeError, match=r"^lo: must be an integer 0-65535, not '80'$"):
        fields.integer("lo", 0, 65535)
    with pytest.raises(DecodeError) as err:
        fields.integers("types", 0, 255, from_text=True)
    assert err.value.path == ("types", 1)


def test_open_and_closed_mappings() -> None:
    assert Fields({"anything": 1}, (), None).get("anything") == 1
    with pytest.raises(DecodeError) as err:
        Fields({"a": {"b": 1}}, (), None).mapping("a", ("c",))
    assert (str(err.value), err.value.unknown_key) == ("unknown key 'a.b'", True)
    assert Fields({"a": None}, (), None).mapping("a", ("c",)).data == {}
    with pytest.raises(DecodeError, match=r"^a: missing$"):
        Fields({}, (), None).mapping("a", None, required=True)
    with pytest.raises(DecodeError, match=r"^invert: must be true or false, not 'yes'$"):
        Fields({"invert": "yes"}, (), None).flag("invert")
