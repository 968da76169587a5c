"""Parking: whole articles wait for the run-wide joins on disk, not in memory
(transforms/lib/parking.py), and the joins give exactly what they give
when the articles wait in the grouping."""
from __future__ import annotations

import dataclasses
import os

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import runners
from tests.conftest import FETCHED_AT
from tests.harness import drive
from tests.test_dedup_clean import RULES, article
from transforms.clean import CleanBoilerplate, clean_site
from transforms.lib import parking
from transforms.lib.parking import Parked, Parking, Unparker, _ParkFn
from transforms.lib.state_dir import StateDir
from transforms.stories import IdentifyStories, identify_in_process


def _park(parking_: Parking, bundles: list[list[tuple]], tag: str | None = None) -> list:
    """Each bundle through one _ParkFn bundle, as a runner calls it."""
    fn = _ParkFn(parking_, tag)
    out = []
    for bundle in bundles:
        fn.start_bundle()
        for element in bundle:
            out.extend(fn.process(element))
        fn.finish_bundle()
    fn.teardown()
    return out


def test_records_parked_on_disk_come_back_equal(tmp_path):
    records = [(f"k{i}", article(f"Text {i} " * (i + 1), id=f"{i:03d}")) for i in range(20)]
    tokens = _park(Parking(str(tmp_path)), [records[:7], records[7:]], tag="article")
    assert [key for key, _ in tokens] == [key for key, _ in records]
    assert all(tag == "article" and isinstance(token, Parked) for _, (tag, token) in tokens)
    assert len(os.listdir(tmp_path)) == 2  # one file per bundle
    unpark = Unparker(Parking(str(tmp_path)))
    # Read back out of order, as a grouping hands them over.
    back = {key: unpark(token) for key, (_, token) in reversed(tokens)}
    unpark.close()
    assert back == dict(records)


def test_without_a_directory_records_wait_packed_in_the_grouping():
    records = [("k", article("Some text"))]
    (key, token), = _park(Parking(), [records])
    assert isinstance(token, bytes)
    assert Unparker(Parking())(token) == records[0][1]


def test_a_file_url_parks_in_the_plain_path(tmp_path):
    (_, token), = _park(Parking(f"file://{tmp_path}"), [[("k", "record")]])
    assert os.listdir(tmp_path) == [token.file]
    assert Unparker(Parking(f"file://{tmp_path}"))(token) == "record"


def test_a_cut_parking_file_is_an_error_not_a_wrong_record(tmp_path):
    (_, token), = _park(Parking(str(tmp_path)), [[("k", "x" * 1000)]])
    path = tmp_path / token.file
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(OSError, match="cut short"):
        Unparker(Parking(str(tmp_path)))(token)
    with pytest.raises(ValueError, match="no parking directory"):
        Unparker(Parking())(token)


def test_an_unparker_keeps_a_bounded_number_of_files_open(tmp_path):
    bundles = [[(i, f"record {i}")] for i in range(parking.OPEN_FILES * 2 + 3)]
    tokens = _park(Parking(str(tmp_path)), bundles)
    unpark = Unparker(Parking(str(tmp_path)))
    for _ in range(2):
        assert [unpark(token) for _, token in tokens] == [r for (_, r), in bundles]
        assert len(unpark._files) <= parking.OPEN_FILES
    unpark.close()
    assert not unpark._files


@settings(max_examples=60, deadline=None)
@given(records=st.lists(st.text(max_size=300), max_size=40),
       cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=5),
       order=st.randoms(use_true_random=False))
def test_any_records_in_any_bundles_come_back_in_any_order(tmp_path_factory, records, cuts,
                                                           order):
    directory = tmp_path_factory.mktemp("park")
    edges = sorted({0, len(records), *(c for c in cuts if c <= len(records))})
    bundles = [[(i, records[i]) for i in range(a, b)]
               for a, b in zip(edges, edges[1:], strict=False)]
    tokens = _park(Parking(str(directory)), bundles)
    order.shuffle(tokens)
    unpark = Unparker(Parking(str(directory)))
    assert {key: unpark(token) for key, token in tokens} == dict(enumerate(records))
    unpark.close()


def _site(count: int) -> list:
    """A site whose articles share a template line and link to each other,
    with every fifth article a copy of the one before (a story at two URLs)."""
    articles = []
    for i in range(count):
        story = i - 1 if i % 5 == 4 else i
        prose = " ".join(f"word{story}x{j}" for j in range(30))
        lines = [f"Story {story} opens with its own first paragraph: {prose}.",
                 "Subscribe to the Morning Brief newsletter",
                 f"Headline number {(i + 1) % count} of the site"]
        articles.append(article("\n\n".join(lines), title=f"Headline number {i} of the site",
                                id=f"{i:04d}"))
    return articles


def test_the_clean_join_gives_the_same_articles_parked(tmp_path):
    articles = _site(40)
    expected, _ = clean_site(articles, RULES)
    park = tmp_path / "park"
    with TestPipeline() as p:
        cleaned, dead = (p | beam.Create(articles)
                         | CleanBoilerplate(RULES, parking=Parking(str(park))))
        assert_that(cleaned, equal_to(expected), label="same articles")
        assert_that(dead, equal_to([]), label="dead")
    assert sum(f.stat().st_size for f in park.iterdir()) > 0  # they did wait there


def test_the_story_join_gives_the_same_articles_parked(tmp_path):
    articles = [dataclasses.replace(a, fetched_at=FETCHED_AT) for a in _site(30)]
    expected, _ = identify_in_process(articles)
    assert sum(1 for a in expected if a.duplicate_of) == 6
    park = tmp_path / "park"
    with TestPipeline() as p:
        identified, dead = p | beam.Create(articles) | IdentifyStories(parking=Parking(str(park)))
        assert_that(identified, equal_to(expected), label="same stories")
        assert_that(dead, equal_to([]), label="dead")
    assert any(park.iterdir())


def test_only_the_local_batch_runner_parks():
    assert runners.LOCAL_BATCH.park
    assert not any(profile.park for profile in (runners.PRISM_STREAMING, runners.FLINK,
                                                 runners.FLINK_STREAMING, runners.OTHER))


def test_a_run_starts_with_an_empty_parking_directory_and_clears_it(tmp_path):
    state = StateDir(str(tmp_path))
    leftover = tmp_path / "parking" / "killed-run"
    leftover.mkdir(parents=True)
    (leftover / "x.park").write_bytes(b"left by a killed run")
    directory = state.start_parking("now")
    assert os.listdir(tmp_path / "parking") == ["now"] and not os.listdir(directory)
    state.clear_parking()
    assert not (tmp_path / "parking").exists()


def test_drive_parks_through_the_harness(tmp_path):
    """The DoFn as the test harness drives it (setup, one bundle, teardown)."""
    main, _ = drive(_ParkFn(Parking(str(tmp_path)), None), [("a", 1), ("b", 2)])
    unpark = Unparker(Parking(str(tmp_path)))
    assert [(k, unpark(t)) for k, t in main] == [("a", 1), ("b", 2)]
