"""Request body parsers shared by the ingest endpoints."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LenientJSONParser(JSONParser):
    """Accepts NaN/Infinity literals so the validator can name the item that holds them
    (a strict parser would reject the whole body without saying where). Reads the body
    in one go: decoding a 1 MB body through a codec stream reader costs more than the
    validation of its 10 000 items."""

    strict = False

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return None
        try:
            return json.loads(stream.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
