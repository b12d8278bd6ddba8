"""Patch files for talhelper, which substitutes environment variables in every ``@file`` patch.

talhelper (budimanjojo/talhelper v3.1) reads an ``@file`` entry of a talconfig.yaml ``patches``
list in three steps (``pkg/patcher/patcher.go``, ``PatchesPatcher``): it renders the file as a
Go template (``pkg/templating/template.go``), drops its YAML comments, then runs envsubst with
no-unset and no-empty (``pkg/substitute/envsubst.go``, ``SubstituteEnvFromByte``:
``envsubst.BytesRestricted(filtered, true, true)``, a8m/envsubst v1.4.3). In envsubst
(``parse/lex.go``) ``$$`` is a literal ``$``, ``$NAME`` and ``${...}`` are variables (an unset
or empty one is an error there), and a ``$`` before anything else stays as it is. So a
``$patch: delete`` document fails as written; talhelper needs ``$$patch: delete``.

Writing (``escape``): a file for talhelper doubles every ``$`` and writes ``{{`` as the
template ``{{"{{"}}``, so talhelper's steps give back exactly the file talosctl would read.
Its header says so in ``MARKER`` and shows the talconfig.yaml lines (``talconfig_lines``).

Reading (``readable``): a file is one for talhelper when its header holds ``MARKER`` or a
line that is not a comment holds ``$$``. talospatch then reads it as talhelper passes it to
Talos, for the substitutions talospatch writes: ``$$`` is ``$`` and ``{{"{{"}}`` is ``{{``.
Other variables (``${CLUSTER_SUBNET}``) depend on talhelper's environment and stay as they
are (``check`` names them as placeholders); ``$patch`` there is the tombstone talhelper
cannot read (a variable named ``patch``), and a Go template action is talhelper's to
render: the file is refused, one line naming the place. Any other file is read as it is.
"""

from __future__ import annotations

import json
import re

from talospatch.errors import BadInput

TALOSCTL = "talosctl"
TALHELPER = "talhelper"
TOOLS = (TALOSCTL, TALHELPER)

# The header line of a file for talhelper (no "$" in it: the file doubles every one).
MARKER = "# For talhelper (its envsubst reads each dollar sign doubled), not talosctl --config-patch."
TEMPLATE_BRACES = '{{"{{"}}'  # a Go template action that prints "{{"

# talconfig.yaml's node groups (pkg/config/config.go: controlPlane, worker).
GROUPS = {"controlplane": "controlPlane", "worker": "worker"}

# The variable ``patch`` as envsubst reads it (a8m/envsubst parse/lex.go: a name runs over
# letters, digits and "_"): ``$patch`` or ``${patch...}``.
_TOMBSTONE = re.compile(r"\$\{?patch(?!\w)")


def check_tool(value: str, label: str) -> str:
    if value not in TOOLS:
        raise BadInput(f"{label} {value!r} is not a tool; valid: {', '.join(TOOLS)}".strip())
    return value


def escape(text: str) -> str:
    """``text`` (what talosctl reads) as talhelper needs it to read the same."""
    return text.replace("$", "$$").replace("{{", TEMPLATE_BRACES)


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def is_for_talhelper(text: str) -> bool:
    lines = text.splitlines()
    return any(line.rstrip() == MARKER for line in lines) or any("$$" in ln for ln in lines if not _comment(ln))


def _unescape(line: str, where: str, number: int) -> str:
    if "$" not in line and "{{" not in line:
        return line
    data = not _comment(line)  # talhelper drops comments before envsubst: only $$ and {{ there
    out: list[str] = []
    index = 0
    while index < len(line):
        if line.startswith(TEMPLATE_BRACES, index):
            out.append("{{")
            index += len(TEMPLATE_BRACES)
        elif line.startswith("$$", index):
            out.append("$")
            index += 2
        elif data and line.startswith("{{", index):
            action = line[index:].split("}}")[0] + "}}"
            raise BadInput(
                f"{where}:{number}: {action} is a Go template action for talhelper; talhelper renders it, "
                "talospatch does not: check the config talhelper genconfig writes"
            )
        elif data and _TOMBSTONE.match(line, index):
            raise BadInput(
                f"{where}:{number}: talhelper reads $patch as an environment variable (this file doubles its "
                "dollar signs elsewhere, as talhelper needs): write $$patch: delete"
            )
        else:
            out.append(line[index])
            index += 1
    return "".join(out)


def readable(text: str, where: str) -> str:
    """The text talosctl would read: a file for talhelper with its substitutions undone, else ``text``."""
    if not is_for_talhelper(text):
        return text
    lines = text.split("\n")
    return "\n".join(_unescape(line, where, number) for number, line in enumerate(lines, start=1))


def talconfig_lines(role: str, path: str) -> list[str]:
    """The comment lines that show where the file goes in talconfig.yaml: the role's node
    group, or one node's entry of ``nodes``."""
    entry = f"patches: [{json.dumps('@' + path)}]"
    node = ["#   nodes:", "#     - hostname: NODE", f"#       {entry}"]
    group = GROUPS.get(role)
    lines = ["# In talconfig.yaml (talhelper reads the path from that file's folder),"]
    if group is None:
        return [*lines, f"# in the entry of each {role} node:", *node]
    return [*lines, f"# for every {role} node:", f"#   {group}:", f"#     {entry}", "# or for one node:", *node]


def talconfig_path(path: str | None) -> str:
    """A file's path as talconfig.yaml names it: relative ones start with ``./``."""
    if path is None:
        return "./THIS_FILE"
    if path.startswith(("/", "./", "../")):
        return path
    return f"./{path}"
