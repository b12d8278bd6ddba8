"""The independent talhelper reader (``testing.talhelper``) follows envsubst's and talhelper's rules.

Cases follow a8m/envsubst v1.4.3's documented behaviour (its README table and ``parse/lex.go``)
under the no-unset and no-empty restrictions talhelper sets.
"""

from __future__ import annotations

import pytest

from testing.talhelper import EnvsubstError, UnsupportedTemplate, envsubst, render_template, talhelper_documents

ENV = {"NAME": "node1", "SUBNET": "10.0.0.0/8", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain text", "plain text", id="text"),
        pytest.param("$NAME", "node1", id="variable"),
        pytest.param("${NAME}-x", "node1-x", id="braced"),
        pytest.param("a $NAME b $SUBNET", "a node1 b 10.0.0.0/8", id="two"),
        pytest.param("$$patch: delete", "$patch: delete", id="escaped-key"),
        pytest.param("$${NAME}", "${NAME}", id="escaped-braces"),
        pytest.param("$$$NAME", "$node1", id="escape-then-variable"),
        pytest.param("$$$$", "$$", id="two-escapes"),
        pytest.param("cost: 5$ each", "cost: 5$ each", id="lone-dollar"),
        pytest.param("end $", "end $", id="dollar-at-end"),
        pytest.param("$_ x", "$_ x", id="underscore-alone"),
        pytest.param("${UNSET:-fallback}", "fallback", id="default-when-unset"),
        pytest.param("${EMPTY:-fallback}", "fallback", id="default-when-empty"),
        pytest.param("${UNSET-$NAME}", "node1", id="default-variable"),
        pytest.param("${NAME:+set}", "set", id="alternative"),
        pytest.param("${UNSET+set}", "", id="alternative-unset"),
        pytest.param("line $NAME\nnext ${UNSET:=x}", "line node1\nnext x", id="lines"),
    ],
)
def test_envsubst(text: str, expected: str) -> None:
    assert envsubst(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("$patch: delete", "variable ${patch} not set", id="tombstone-as-written"),
        pytest.param("${UNSET}", "variable ${UNSET} not set", id="unset"),
        pytest.param("$EMPTY", "variable ${EMPTY} set but empty", id="empty"),
        pytest.param("open ${", "closing brace expected", id="unclosed"),
        pytest.param("${NAME\n}", "closing brace expected", id="brace-across-lines"),
    ],
)
def test_envsubst_refuses(text: str, message: str) -> None:
    with pytest.raises(EnvsubstError) as exc:
        envsubst(text, ENV)
    assert str(exc.value) == message


def test_template_prints_string_actions_and_refuses_others() -> None:
    assert render_template('a {{"{{"}} b }} c') == "a {{ b }} c"
    assert render_template("no action") == "no action"
    with pytest.raises(UnsupportedTemplate):
        render_template("{{ .MachineConfig.Machine.Type }}")


def test_documents_drop_comments_before_substitution() -> None:
    # talhelper strips comments first: a variable in a comment needs no environment.
    text = "# costs $HOME\napiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: x\n$$patch: delete\n"
    assert talhelper_documents(text, {}) == [
        {"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": "x", "$patch": "delete"}
    ]
