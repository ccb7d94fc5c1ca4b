"""Mapping engine: YAML mapping files compiled into callables (pure: no network, no DB).

Inbound mappings turn an external record (XML element, JSON value, database row) into a
canonical model; outbound mappings turn a canonical record into a request body, SOAP
parameters or a row. The file format is documented in mappings/README.md and at the top
of every shipped mappings/*.yaml.
"""

from hub.mapping.batch import Failure, map_records
from hub.mapping.engine import Mapping, load_mapping, load_mappings, serialise_record
from hub.mapping.errors import MappingError
from hub.mapping.parsing import parse_json, parse_page, parse_xml
from hub.mapping.targets import TARGETS, DispatchResult, StatusUpdate

__all__ = [
    "TARGETS",
    "DispatchResult",
    "Failure",
    "Mapping",
    "MappingError",
    "StatusUpdate",
    "load_mapping",
    "load_mappings",
    "map_records",
    "parse_json",
    "parse_page",
    "parse_xml",
    "serialise_record",
]
