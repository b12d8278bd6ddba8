"""The spec ``init`` writes: gen's options as a cluster spec, checked by building every role."""

from __future__ import annotations

import os
from typing import Any

from talospatch.errors import BadInput
from talospatch.generate.options import GEN_FIELDS, GenOptions
from talospatch.registry import SPEC_FILE
from talospatch.spec.load import parse_spec
from talospatch.spec.model import KEYS
from talospatch.yamlio import dump


def spec_data(opts: GenOptions, folder: str) -> dict[str, Any]:
    """The spec that says what ``opts`` say (``init``): keys in gen's order, paths relative to ``folder``.

    ``opts.role`` empty means every default role; a role makes the spec build that one only.
    """
    data: dict[str, Any] = {}
    for name in GEN_FIELDS[1:]:
        value = getattr(opts, name)
        if value in (None, (), False):
            continue
        if name in ("profiles_dir", "prune_from"):
            value = os.path.relpath(value, folder)
        data[KEYS[name]] = list(value) if isinstance(value, tuple) else value
    if opts.role:
        data["roles"] = {opts.role: {}}
    return data


def spec_text(opts: GenOptions, folder: str) -> str:
    """``spec_data`` as the text of a spec file in ``folder``, checked by building every role's documents."""
    from talospatch.generate.expand import expand

    text = "# talospatch cluster spec: `talospatch build` writes one patch per role into out/.\n"
    text += dump(spec_data(opts, folder))
    loaded = parse_spec(text, os.path.join(folder, SPEC_FILE))
    for role in loaded.roles:
        request = loaded.request(role)
        try:
            expand(request.options, request.catalog, request.labels)
        except BadInput as exc:
            raise BadInput(f"role {role}: {exc}") from None
    return text
