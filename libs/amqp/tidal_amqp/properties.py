"""A content header frame's payload decoded into pamqp's `ContentHeader` and `Basic.Properties`,
as pamqp decodes it, without its per-property type lookups and validation.

Every delivery carries one; the properties arrive in flag order (AMQP 0-9-1, 4.2.6.1). Short
strings and octets are read here; the headers table and the timestamp go to pamqp's decoders,
so the values are pamqp's to the type. `libs/amqp/tests/test_reader.py` holds the result equal
to pamqp's for every property.
"""

from __future__ import annotations

import struct

from pamqp import commands, decode
from pamqp.header import ContentHeader

__all__ = ["decode_header"]

_HEAD = struct.Struct(">HHQH")  # class, weight, body size, first property flags word
_FLAGS = struct.Struct(">H")
_Properties = commands.Basic.Properties
_SLOTS = tuple(_Properties.__slots__)
# (flag, slot, kind) in wire order; kind: s short string, o octet, t table, T timestamp.
_KIND = {"shortstr": "s", "octet": "o", "table": "t", "timestamp": "T"}
# What pamqp's constructor leaves in a property the header does not carry (cluster_id is '').
_DEFAULTS = tuple((name, getattr(_Properties(), name)) for name in _SLOTS)
_FIELDS = tuple((_Properties.flags[name], name, _KIND[getattr(_Properties, "_" + name)]) for name in _SLOTS)


def decode_header(payload: bytes) -> ContentHeader:
    class_id, weight, body_size, flags = _HEAD.unpack_from(payload)
    pos = 14
    word = flags
    shift = 16
    while word & 1:  # a continuation flag word follows (none is defined in 0-9-1)
        if len(payload) < pos + 2:
            raise ValueError("Content header flags are truncated")
        word = _FLAGS.unpack_from(payload, pos)[0]
        flags |= word << shift
        shift += 16
        pos += 2
    props = _Properties.__new__(_Properties)
    for name, default in _DEFAULTS:
        setattr(props, name, default)
    if flags & 0xFFFC:
        for flag, name, kind in _FIELDS:
            if not flags & flag:
                continue
            if kind == "s":
                n = payload[pos]
                setattr(props, name, payload[pos + 1 : pos + 1 + n].decode("utf-8"))
                pos += 1 + n
            elif kind == "o":
                setattr(props, name, payload[pos])
                pos += 1
            elif kind == "t":
                used, table = decode.field_table(payload[pos:])
                setattr(props, name, table)
                pos += used
            else:
                used, stamp = decode.timestamp(payload[pos:])
                setattr(props, name, stamp)
                pos += used
    header = ContentHeader.__new__(ContentHeader)
    header.class_id = class_id
    header.weight = weight
    header.body_size = body_size
    header.properties = props
    return header
