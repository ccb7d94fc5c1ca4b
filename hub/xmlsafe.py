"""The one hardened lxml parser configuration of the hub (and its sandbox systems).

No DTDs, no entity expansion, no network, no huge trees: XML from outside can neither read
local files (XXE) nor blow up memory (billion laughs). zeep gets the same rules through
its own Settings (hub.adapters.soap).
"""

from __future__ import annotations

from lxml import etree


def hardened_parser(
    encoding: str | None = None, *, remove_comments: bool = False
) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=remove_comments,
        collect_ids=False,  # no xml:id hash table: less work, nothing to poison
        encoding=encoding,
    )
