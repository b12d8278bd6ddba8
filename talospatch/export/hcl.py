"""A small writer for the Terraform (HCL) the export targets emit, laid out as
``terraform fmt`` would: two-space indent, the ``=`` of consecutive one-line attributes
aligned, a blank line between top-level blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Raw:
    """An expression written as is (a reference, a function call, a list)."""

    text: str


Value = str | int | bool | Raw


def string(text: str) -> str:
    """A quoted HCL string in which nothing is interpolated: ``${`` is escaped as ``$${``;
    ``%{`` becomes ``% {`` (its escape ``%%{`` is valid HCL but python-hcl2 cannot read it)."""
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("${", "$${").replace("%{", "% {")
    )
    return f'"{escaped}"'


def value(v: Value) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return string(v)


def string_list(items: Sequence[str]) -> Raw:
    return Raw("[" + ", ".join(string(i) for i in items) + "]")


@dataclass(frozen=True)
class Block:
    kind: str
    labels: tuple[str, ...] = ()
    attributes: tuple[tuple[str, Value], ...] = ()
    blocks: tuple[Block, ...] = ()
    comments: tuple[str, ...] = field(default=())  # lines written above the block, without "# "

    def lines(self, indent: str = "") -> list[str]:
        out = [f"{indent}# {c}".rstrip() for c in self.comments]
        head = " ".join([self.kind, *(string(label) for label in self.labels)])
        out.append(f"{indent}{head} {{")
        width = max((len(k) for k, _ in self.attributes), default=0)
        out += [f"{indent}  {k.ljust(width)} = {value(v)}" for k, v in self.attributes]
        for i, block in enumerate(self.blocks):
            if self.attributes or i:
                out.append("")
            out += block.lines(indent + "  ")
        out.append(f"{indent}}}")
        return out


def document(header: Sequence[str], blocks: Sequence[Block]) -> str:
    parts = ["\n".join(f"# {line}".rstrip() for line in header)] if header else []
    parts += ["\n".join(b.lines()) for b in blocks]
    return "\n\n".join(parts) + "\n"
