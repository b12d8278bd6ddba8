"""The output formats commands offer (typer shows the choices and refuses others)."""

from __future__ import annotations

import enum


class NftFormat(enum.StrEnum):
    nft = "nft"
    resource = "resource"


class ReportFormat(enum.StrEnum):
    text = "text"
    json = "json"
