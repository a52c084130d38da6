"""The shared odd-file corpus (test/fixtures/make_odd_event_files.py) read by the Python reader.

test/event-corpus.test.ts holds the TypeScript reader to the same expected.json: both readers
list the same files, ignore the same ones for the same reasons and return the same rows.
"""

import json
import os
import runpy

import pytest

from pinnerformer.events import list_event_day, list_event_days, list_events, read_event_day, read_events

CORPUS_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "make_odd_event_files.py")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("corpus"))
    runpy.run_path(CORPUS_SCRIPT)["main"](root)
    with open(os.path.join(root, "expected.json")) as f:
        return root, json.load(f)


def _keys(root, paths):
    return [os.path.relpath(p, root).replace(os.sep, "/") for p in paths]


def test_lists_each_day_folder_as_the_contract_says(corpus):
    root, expected = corpus
    days, outside = list_events(root)
    assert sorted(days) == sorted(expected["days"])
    for date, want in expected["days"].items():
        got = days[date]
        assert _keys(root, got.files) == want["files"]
        assert [list(x) for x in got.ignored] == want["ignored"]
        assert got.marker == want["marker"]
    assert [list(x) for x in outside] == expected["outside"]
    assert list_event_days(root) == expected["event_days"]
    assert list_event_day(root, "2026-03-02").marker is True


def test_reads_every_codec_to_the_rows_the_corpus_wrote_and_reports_the_rest(corpus):
    root, expected = corpus
    for date, want in expected["days"].items():
        table, report = read_event_day(root, date, now_ms=expected["now_ms"])
        assert table.to_pylist() == want["rows"]
        assert report.counts == {}
        assert [list(x) for x in report.ignored] == want["ignored"]
    assert read_events(root, now_ms=expected["now_ms"]).num_rows == sum(len(d["rows"]) for d in expected["days"].values())
