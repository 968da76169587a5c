"""How newsbeam ends its own Flink stream job (pipelines/flink.py), against a
loopback stand-in for Flink's REST API: only its job, only if it still runs,
and not before Flink says it has ended."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from pipelines import flink


class FakeFlink:
    """Jobs by id; a cancelled job reports CANCELLING twice, then CANCELED."""

    def __init__(self, jobs: dict[str, tuple[str, str]]):
        self.jobs = {jid: {"jid": jid, "name": name, "state": state}
                     for jid, (name, state) in jobs.items()}
        self.cancelling: dict[str, int] = {}
        self.patched: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/jobs/overview":
                    return self.reply({"jobs": list(fake.jobs.values())})
                jid = self.path.rsplit("/", 1)[1]
                if jid in fake.cancelling:
                    fake.cancelling[jid] -= 1
                    if fake.cancelling[jid] <= 0:
                        fake.jobs[jid]["state"] = "CANCELED"
                return self.reply(fake.jobs[jid])

            def do_PATCH(self):
                jid = self.path.split("/")[2].split("?")[0]
                fake.patched.append(self.path)
                fake.jobs[jid]["state"] = "CANCELLING"
                fake.cancelling[jid] = 2
                self.reply({})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def master(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake():
    server = FakeFlink({"a1": ("newsbeam-stream-mine", "RUNNING"),
                        "b2": ("someone-else", "RUNNING"),
                        "c3": ("newsbeam-stream-mine", "FINISHED")})
    yield server
    server.server.shutdown()


def test_cancels_only_its_running_job_and_waits_until_it_has_ended(fake):
    options = PipelineOptions([f"--flink_master={fake.master}",
                               "--job_name=newsbeam-stream-mine"])
    naps = []
    assert flink.cancel(options, sleep=naps.append) == ["a1"]
    assert fake.patched == ["/jobs/a1?mode=cancel"]
    assert fake.jobs["a1"]["state"] == "CANCELED" and fake.jobs["b2"]["state"] == "RUNNING"
    assert naps, "returned while the job was still CANCELLING"


def test_without_a_flink_master_it_says_what_to_cancel(caplog):
    options = PipelineOptions(["--job_name=newsbeam-stream-x"])
    assert flink.cancel(options) == []
    assert "newsbeam-stream-x" in caplog.text and "--flink_master" in caplog.text


def test_an_unreachable_flink_is_a_warning_not_a_crash(caplog):
    options = PipelineOptions(["--flink_master=127.0.0.1:9", "--job_name=j"])
    assert flink.cancel(options) == []
    assert "could not cancel" in caplog.text


def test_a_job_gets_a_unique_name_unless_the_user_gave_one():
    options = PipelineOptions([])
    name = flink.name_job(options, "stream")
    assert name.startswith("newsbeam-stream-") and len(name) == len("newsbeam-stream-") + 12
    assert options.view_as(GoogleCloudOptions).job_name == name
    assert flink.name_job(PipelineOptions(["--job_name=mine"]), "stream") == "mine"


@pytest.mark.parametrize("master, base", [
    ("127.0.0.1:8081", "http://127.0.0.1:8081"), ("http://jm:8081/", "http://jm:8081"),
    ("[auto]", None), ("[local]", None), ("", None)])
def test_rest_base(master, base):
    argv = [f"--flink_master={master}"] if master else []
    assert flink.rest_base(PipelineOptions(argv)) == base


def test_a_flink_stream_finishes_bundles_before_checkpoints_and_resubmits_with_it():
    # Beam 2.62's Flink operator otherwise buffers a bundle still open at a
    # checkpoint barrier until the stage's next bundle or watermark; the tick
    # source's first stage never gets either, and the stream never started
    # (pipelines/runners.py).
    from pipelines import runners
    from pipelines.launcher import pipeline_options
    from pipelines.stream import profile_flags

    flag = "--finish_bundle_before_checkpointing"
    flink_stream = ["--runner=FlinkRunner", "--streaming"]
    profile = runners.profile(pipeline_options(flink_stream))
    assert profile is runners.FLINK_STREAMING
    assert profile_flags(flink_stream, profile) == [*flink_stream, flag]
    given = [*flink_stream, f"{flag}=true"]
    assert profile_flags(given, profile) == given                 # never twice
    for other in (["--runner=FlinkRunner"], ["--runner=PrismRunner", "--streaming"]):
        assert profile_flags(other, runners.profile(pipeline_options(other))) == other
