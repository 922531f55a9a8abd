"""Streaming the exports: layouts, chunk boundaries, damage, and memory that stays flat."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.cli import logfile as logread
from infra.cli.logfile import iter_entries, open_export
from infra.rules.phase2 import MalformedEntry

ENTRIES = [
    {"insertId": "1", "jsonPayload": {"message": "Analyse réussie — été"}, "n": 1},
    {"insertId": "2", "textPayload": 'ligne "citée" avec \\ et \\n', "n": 2},
    {"insertId": "3", "nested": {"list": [{"a": [1, 2, {"b": None}]}], "e": 1.5e-3}},
    {"insertId": "4", "jsonPayload": {"message": "{ pas du JSON ] , ["}},
]


def gcloud_text(items) -> str:
    """What `gcloud logging read --format json` prints: an indented array."""
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def read(text: str | bytes, chunk: int = logread.CHUNK_BYTES) -> list:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return list(iter_entries(io.BytesIO(data), chunk=chunk))


def malformed(values) -> list[MalformedEntry]:
    return [v for v in values if isinstance(v, MalformedEntry)]


def test_a_gcloud_array_is_read_element_by_element():
    assert read(gcloud_text(ENTRIES)) == ENTRIES


def test_json_lines_and_concatenated_values_are_read():
    lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ENTRIES)
    assert read(lines) == ENTRIES
    pretty = "".join(json.dumps(e, indent=2) + "\n" for e in ENTRIES)  # jq '.[]'
    assert read(pretty) == ENTRIES


@settings(max_examples=80, deadline=None)
@given(chunk=st.integers(1, 300), layout=st.sampled_from(["array", "compact", "lines"]))
def test_any_chunk_size_gives_the_same_values(chunk, layout):
    text = {
        "array": gcloud_text(ENTRIES),
        "compact": json.dumps(ENTRIES),
        "lines": "\n".join(json.dumps(e) for e in ENTRIES),
    }[layout]
    assert read(text, chunk=chunk) == ENTRIES


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_a_number_split_across_chunks_is_not_cut(chunk):
    assert read('[1, 2345, 67.5e1, true, null, "x"]', chunk=chunk) == [
        1,
        2345,
        675.0,
        True,
        None,
        "x",
    ]


@pytest.mark.parametrize("chunk", [1, 2, 4096])
def test_empty_blank_and_bom_inputs(chunk):
    assert read("", chunk) == []
    assert read("  \n\t ", chunk) == []
    assert read("[]", chunk) == []
    assert read("\ufeff" + gcloud_text(ENTRIES[:1]), chunk) == ENTRIES[:1]
    assert read("\ufeff", chunk) == []


def test_a_malformed_element_in_a_gcloud_array_is_skipped_and_reading_resumes():
    text = gcloud_text(ENTRIES)
    broken = text.replace('"insertId": "2",', '"insertId": "2" oops,', 1)
    values = read(broken, chunk=64)
    bad = malformed(values)
    assert len(bad) == 1 and bad[0].reason.startswith("invalid JSON")
    assert [v for v in values if not isinstance(v, MalformedEntry)] == [
        ENTRIES[0],
        ENTRIES[2],
        ENTRIES[3],
    ]
    assert bad[0].offset == len(broken[: broken.index("oops")].encode("utf-8"))


def test_a_truncated_array_yields_what_was_complete_then_one_malformed():
    text = gcloud_text(ENTRIES)
    cut = text[: text.index('"insertId": "3"') + 10]
    values = read(cut, chunk=50)
    assert values[:2] == ENTRIES[:2]
    assert len(values) == 3
    assert values[2].reason == "truncated entry at end of file"
    unclosed = read(text.rstrip()[:-1])  # every element complete, no closing bracket
    assert unclosed[:-1] == ENTRIES
    assert unclosed[-1].reason.startswith("truncated: the JSON array is not closed")


def test_bad_lines_in_json_lines_are_counted_one_each():
    good = [json.dumps(e, ensure_ascii=False) for e in ENTRIES]
    text = "\n".join(
        [
            good[0],
            '{"insertId": "tronqué", "jsonPayload": {"message": "[MemoryAnalyzer] Cache HIT',
            good[1],
            "\x00\x00 binaire",
            "{'simple': 'quotes'}",
            good[2],
            "}{",
            good[3],
        ]
    )
    for chunk in (16, 4096):
        values = read(text, chunk=chunk)
        assert [v for v in values if isinstance(v, dict)] == ENTRIES
        assert len(malformed(values)) == 4


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_a_damaged_element_in_a_one_line_array_loses_only_itself(chunk):
    """`jq -c .` or `json.dumps(entries)`: one line; the elements after the damage still count."""
    damaged = [
        '{"b": oops}',
        '{"b": {"x": [1, "],{\\"", {"y": "}"}]}, oops}',  # brackets inside strings and lists
        "{'simple': 'quotes', 'list': [1, 2]}",
        '{"b": 1,, "c": }',
    ]
    good = [json.dumps(e, ensure_ascii=False) for e in ENTRIES]
    text = "[" + ", ".join([good[0], damaged[0], good[1], damaged[1], damaged[2], good[2]])
    text += ", " + damaged[3] + ", " + good[3] + "]"
    values = read(text, chunk=chunk)
    assert [v for v in values if isinstance(v, dict)] == ENTRIES
    bad = malformed(values)
    assert len(bad) == 4
    assert [b.offset for b in bad] == sorted(b.offset for b in bad)
    stray = read('[{"a": 1}}, {"c": 3}]', chunk=chunk)  # a stray closing brace: one malformed
    assert [v for v in stray if isinstance(v, dict)] == [{"a": 1}, {"c": 3}]
    assert len(malformed(stray)) == 1


def test_a_compact_array_damaged_at_its_end_says_so():
    values = read('[{"a": 1}, {"b": oops')
    assert values[0] == {"a": 1}
    assert all(isinstance(v, MalformedEntry) for v in values[1:]) and len(values) >= 2


@pytest.mark.parametrize("layout", ["lines", "gcloud", "compact"])
def test_json_nested_a_thousand_deep_is_one_malformed_entry(layout):
    deep = {"insertId": "deep", "n": json.loads("[" * 900 + "]" * 900)}
    text = json.dumps(deep)
    deeper = text.replace('"n": [', '"n": ' + "[" * 200 + "[", 1).replace("]}", "]" * 201 + "}")
    items = [json.dumps(e, ensure_ascii=False) for e in ENTRIES]
    if layout == "lines":
        data = "\n".join([items[0], deeper, items[1]]) + "\n"
    elif layout == "gcloud":
        data = gcloud_text([ENTRIES[0], {"insertId": "placeholder"}, ENTRIES[1]])
        data = data.replace('{\n    "insertId": "placeholder"\n  }', deeper)
    else:
        data = "[" + ", ".join([items[0], deeper, items[1]]) + "]"
    values = read(data)
    assert values[0] == ENTRIES[0] and values[-1] == ENTRIES[1]
    (bad,) = malformed(values)
    assert "nested too deeply" in bad.reason or bad.reason.startswith("invalid JSON")


def test_integers_of_thousands_of_digits_keep_their_entry():
    big = "9" * 5000
    text = '{"insertId": "big", "n": ' + big + ', "m": -' + big + "}\n" + json.dumps(ENTRIES[0])
    values = read(text)
    assert values[0]["insertId"] == "big" and values[0]["n"] == float("inf")
    assert values[0]["m"] == float("-inf")
    assert values[1] == ENTRIES[0]


def test_endless_bytes_that_hold_no_entry_stop_the_reading(monkeypatch):
    """`--file /dev/zero` or a binary file ends, in bounded time and memory."""
    monkeypatch.setattr(logread, "MAX_GARBAGE_BYTES", 1 << 16)
    monkeypatch.setattr(logread, "MAX_ENTRY_BYTES", 1 << 16)

    class Zeros:
        def __init__(self, head: bytes) -> None:
            self.head = head
            self.served = 0

        def read(self, size: int = -1) -> bytes:
            if self.head:
                head, self.head = self.head, b""
                return head
            self.served += size
            return b"\0" * size

    for first in (b"", b"[", b'{"a": 1}\n', b"[\n  {\n"):
        zeros = Zeros(first)
        values = list(iter_entries(zeros, chunk=4096))
        assert "no readable entry" in values[-1].reason, first
        assert zeros.served < 1 << 20


def test_concatenated_exports_are_read_one_after_the_other():
    text = gcloud_text(ENTRIES[:2]) + gcloud_text(ENTRIES[2:])
    assert read(text, chunk=33) == ENTRIES
    trailing = read(gcloud_text(ENTRIES[:1]) + "fin du fichier")
    assert trailing[0] == ENTRIES[0]
    assert trailing[1].reason == "unexpected content after the JSON array"


def test_an_oversized_element_is_refused_and_reading_resumes(monkeypatch):
    monkeypatch.setattr(logread, "MAX_ENTRY_BYTES", 200)
    big = {"insertId": "big", "jsonPayload": {"message": "x" * 1000}}
    values = read(gcloud_text([ENTRIES[0], big, ENTRIES[1]]), chunk=64)
    assert values[0] == ENTRIES[0]
    assert values[1].reason == "entry larger than 8 MiB"
    assert values[2:] == [ENTRIES[1]]


class CountingStream(io.BytesIO):
    def __init__(self, text: str) -> None:
        super().__init__(text.encode("utf-8"))
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_entries_are_yielded_before_the_file_is_read_to_the_end():
    entry = {"insertId": "x", "jsonPayload": {"message": "m" * 200}}
    text = gcloud_text([entry] * 5000)  # ~1.3 MB
    stream = CountingStream(text)
    values = iter_entries(stream, chunk=64 * 1024)
    assert next(values) == entry
    assert stream.bytes_read <= 64 * 1024 + 1
    for _ in range(1000):
        next(values)
    assert stream.bytes_read < len(text) / 3


@pytest.mark.parametrize("chunk", [3, 4096])
def test_bytes_that_are_not_utf8_become_replacement_characters(tmp_path, chunk):
    path = tmp_path / "latin1.json"
    path.write_bytes(
        b'[\n  {\n    "message": "caf\xe9"\n  },\n  {\n    "message": "th\xc3\xa9"\n  }\n]\n'
    )
    with open_export(str(path)) as stream:
        values = list(iter_entries(stream, chunk=chunk))
    assert values == [{"message": "caf\ufffd"}, {"message": "thé"}]
