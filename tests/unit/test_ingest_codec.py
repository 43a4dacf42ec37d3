"""The ingest batches' wire format (JSON + zlib), as kombu encodes and decodes it."""
import zlib

import pytest
from kombu.serialization import dumps, loads

from workers import ingest_codec


def test_a_batch_round_trips_through_kombu_and_is_much_smaller_than_json():
    import json

    events = [{"Event-Name": "CHANNEL_ANSWER", "Unique-ID": f"uuid-{i}", "_received": 1.5 + i,
               "Caller-Destination-Number": "1002", "Call-Direction": "inbound",
               "variable_x": ["array", "header"], "Channel-Name": "sofia/internal/1001@ü"}
              for i in range(200)]
    body = [["fs1", events], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    content_type, encoding, data = dumps(body, serializer=ingest_codec.SERIALIZER)
    assert (content_type, encoding) == (ingest_codec.CONTENT_TYPE, "binary")
    assert len(data) * 5 < len(json.dumps(body))
    assert loads(data, content_type, encoding, accept={ingest_codec.CONTENT_TYPE}) == body


def test_what_is_not_such_a_message_is_refused():
    with pytest.raises(ValueError, match="not a fscti-zjson message"):
        ingest_codec.decode(b'[["fs1", []], {}, {}]')
    with pytest.raises(ValueError):
        ingest_codec.decode(zlib.compress(b"not json"))


def test_a_decompression_bomb_is_refused_without_inflating_it(monkeypatch):
    monkeypatch.setattr(ingest_codec, "MAX_DECODED", 1000)
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        ingest_codec.decode(zlib.compress(b"[" + b"0," * 10000 + b"0]"))
    assert ingest_codec.decode(zlib.compress(b"[" + b"0," * 100 + b"0]")) == [0] * 101
