"""An SVG's own stylesheet, applied as presentation attributes.

A chart drawn inside a page is subject to the page's Content-Security-Policy: without
``'unsafe-inline'`` in ``style-src`` the browser ignores its ``<style>`` element and every
``style="…"`` attribute. Presentation attributes (``fill="#0072B2"``, ``font-size="11px"``)
are plain markup and need no permission, so :func:`inline_stylesheet` resolves the cascade
once on the server (each ``<style>`` rule by selector, specificity, order and
``!important``, then the ``style`` attributes) and writes the winning declarations as
attributes. Selectors are matched by cssselect2 and declarations parsed by tinycss2.

What cannot become an attribute is dropped: dynamic pseudo-classes (``:hover`` never
matches on the server; the page's stylesheet carries the few that matter) and properties
that are not presentation attributes (``transition``, ``user-select``). The result looks
the same as the styled original, and page stylesheets still override it as they would any
presentation attribute."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cssselect2
import tinycss2

# SVG 2, "Presentation attributes" (https://www.w3.org/TR/SVG2/styling.html#PresentationAttributes),
# plus the text properties SVG 1.1 listed that browsers still honour.
PRESENTATION_ATTRIBUTES = frozenset(
    {
        "alignment-baseline",
        "baseline-shift",
        "clip-path",
        "clip-rule",
        "color",
        "color-interpolation",
        "color-interpolation-filters",
        "color-rendering",
        "cursor",
        "direction",
        "display",
        "dominant-baseline",
        "fill",
        "fill-opacity",
        "fill-rule",
        "filter",
        "flood-color",
        "flood-opacity",
        "font-family",
        "font-size",
        "font-size-adjust",
        "font-stretch",
        "font-style",
        "font-variant",
        "font-weight",
        "image-rendering",
        "letter-spacing",
        "lighting-color",
        "marker-end",
        "marker-mid",
        "marker-start",
        "mask",
        "opacity",
        "overflow",
        "paint-order",
        "pointer-events",
        "shape-rendering",
        "stop-color",
        "stop-opacity",
        "stroke",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-opacity",
        "stroke-width",
        "text-anchor",
        "text-decoration",
        "text-overflow",
        "text-rendering",
        "unicode-bidi",
        "vector-effect",
        "visibility",
        "white-space",
        "word-spacing",
        "writing-mode",
    }
)


@dataclass(frozen=True)
class _Declaration:
    name: str
    value: str
    important: bool


def _declarations(tokens: list[Any] | str) -> list[_Declaration]:
    parsed = tinycss2.parse_blocks_contents(tokens, skip_whitespace=True, skip_comments=True)
    return [
        _Declaration(node.lower_name, tinycss2.serialize(node.value).strip(), node.important)
        for node in parsed
        if node.type == "declaration"
    ]


def _local_name(element: Any) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# Charts scope their rules by the root's id, a fresh uuid per chart; matching under one fixed
# id lets charts of the same kind share one compiled stylesheet (compiling is most of the
# cost, ~15 ms a chart).
_ROOT_ID = "svg-root"


@functools.lru_cache(maxsize=64)
def _matcher(css: str) -> cssselect2.Matcher:
    """The stylesheet's rules, in source order. Matching does not change a Matcher, so the
    cached one is shared between threads."""
    matcher = cssselect2.Matcher()
    for rule in tinycss2.parse_stylesheet(css, skip_whitespace=True, skip_comments=True):
        if rule.type != "qualified-rule":
            continue  # at-rules (@media, @font-face) have no attribute form
        declarations = _declarations(rule.content)
        try:
            selectors = cssselect2.compile_selector_list(rule.prelude)
        except cssselect2.SelectorError:
            continue  # a selector the browser would also skip
        for selector in selectors:
            matcher.add_selector(selector, declarations)
    return matcher


def inline_stylesheet(root: Any) -> Any:
    """Apply the tree's stylesheet and ``style`` attributes as presentation attributes,
    then remove every ``<style>`` and ``<script>`` element and ``style`` attribute. Takes
    and returns an ElementTree (or lxml) root, changed in place, so it serves as a pygal
    ``xml_filter``."""
    css = "\n".join(e.text or "" for e in root.iter() if _local_name(e) == "style")
    root_id = root.get("id")
    if root_id:
        css = css.replace(f"#{root_id}", f"#{_ROOT_ID}")
        root.set("id", _ROOT_ID)
    matcher = _matcher(css)
    for wrapper in cssselect2.ElementWrapper.from_xml_root(root).iter_subtree():
        element = wrapper.etree_element
        # Cascade order, lowest first: rules by specificity then source order, the style
        # attribute above every rule; !important declarations above all normal ones.
        ranked: list[tuple[tuple[int, int, tuple[int, int, int], int], _Declaration]] = []
        for specificity, order, pseudo_element, declarations in matcher.match(wrapper):
            if pseudo_element is not None:
                continue
            ranked += [((d.important, 0, specificity, order), d) for d in declarations]
        inline = element.attrib.pop("style", None)
        if inline:
            ranked += [((d.important, 1, (0, 0, 0), 0), d) for d in _declarations(inline)]
        ranked.sort(key=lambda item: item[0])
        for _, declaration in ranked:
            if declaration.name in PRESENTATION_ATTRIBUTES:
                element.set(declaration.name, declaration.value)
    if root_id:
        root.set("id", root_id)
    for parent in list(root.iter()):
        for child in list(parent):
            if _local_name(child) in ("style", "script"):
                parent.remove(child)
    return root
