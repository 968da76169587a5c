"""What both commands do before a pipeline exists: help, logging, and the
checks that turn "cannot run" into exit status 2 with a clear message."""
from __future__ import annotations

import logging
import sys
import time
from typing import Callable, Sequence, TypeVar

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from pipelines import runners
from pipelines.options import NewsbeamOptions, help_text
from transforms.feed.locations import FeedListError, is_url, load_feed_list
from transforms.lib import heap
from transforms.lib.datasets import DATASETS
from transforms.lib.state_dir import StateBusy, StateLock, is_local

T = TypeVar("T")


class UsageError(Exception):
    """The run cannot start; the message tells the user why."""


def check_output(output: str | None) -> None:
    """Fail fast, before any work, if ``output`` cannot be written."""
    if not output:
        raise UsageError("--output is required")
    probe = FileSystems.join(output, f".newsbeam-write-probe-{time.time_ns()}")
    try:
        with FileSystems.create(probe) as handle:
            handle.write(b"ok")
        FileSystems.delete([probe])
    except Exception as exc:  # noqa: BLE001 - any filesystem error means "cannot run"
        raise UsageError(f"cannot write to output {output}: {exc}") from None


def check_values(options: PipelineOptions) -> None:
    """Refuse bad numeric flags and a bad ``--fetched-at`` before any work."""
    opts = options.view_as(NewsbeamOptions)
    problems = opts.problems()
    try:
        opts.fetched_at_time()
    except ValueError as exc:
        problems.append(f"--fetched-at: {exc}")
    if problems:
        raise UsageError("; ".join(problems))


def _strict_parser() -> tuple[_BeamArgumentParser, dict[str, type[PipelineOptions]]]:
    """Every flag Beam and newsbeam define, with abbreviations turned off,
    and which options class declares each destination."""
    parser = _BeamArgumentParser(allow_abbrev=False, conflict_handler="resolve",
                                 add_help=False)
    owners: dict[str, type[PipelineOptions]] = {}
    stack, seen = [PipelineOptions], set()
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                before = len(parser._actions)
                sub._add_argparse_args(parser)
                for action in parser._actions[before:]:
                    owners.setdefault(action.dest, sub)
    return parser, owners


def known_flags() -> frozenset[str]:
    """Every flag Beam and newsbeam define, dashes and underscores alike."""
    return frozenset(option for action in _strict_parser()[0]._actions
                     for option in action.option_strings)


def pipeline_options(argv: Sequence[str]) -> PipelineOptions:
    """Beam's PipelineOptions for ``argv``, without Beam's abbreviations.

    Each of Beam's option views parses the command line with abbreviations
    on, so newsbeam's own ``--output DIR`` was also read as Beam's
    ``--output_executable_path DIR``, and the Flink job server wrote a jar to
    DIR instead of running the job.  An option that only an abbreviation
    set goes back to its default here.
    """
    options = PipelineOptions(list(argv))
    parser, owners = _strict_parser()
    strict, _ = parser.parse_known_args(list(argv))
    for dest, value in vars(strict).items():
        default = parser.get_default(dest)
        owner = owners.get(dest)
        if value != default or owner is None:
            continue
        view = options.view_as(owner)
        if getattr(view, dest, default) != default:
            setattr(view, dest, default)
    return options


def check_abbreviations(argv: Sequence[str]) -> None:
    """Refuse a flag that is not one but abbreviates one.

    Beam's parser accepts abbreviations, so a mistyped ``--out=DIR`` became
    ``--output_executable_path`` and a Flink run wrote a jar instead of
    running.  Flags Beam does not know at all still pass through to the
    runner (``--checkpointing_interval`` for Flink, say).
    """
    known = known_flags()
    for arg in argv:
        if not arg.startswith("--") or arg == "--":
            continue
        name = arg.split("=", 1)[0]
        if name in known:
            continue
        spelled = name.replace("-", "_")
        longer = sorted(k for k in known if k.replace("-", "_").startswith(spelled))
        if longer:
            raise UsageError(f"{name} is not an option; flags are never abbreviated "
                             f"(did you mean {longer[0]}?)")


def check_shared_paths(options: PipelineOptions, feeds: Sequence[str]) -> None:
    """On a runner whose workers run elsewhere, local paths must be shared."""
    opts = options.view_as(NewsbeamOptions)
    if not runners.profile(options).distributed or opts.shared_filesystem:
        return
    local = [p for p in (opts.output, opts.state_directory()) if p and is_local(p)]
    local += [f for f in feeds if not is_url(f) and is_local(f)]
    if local:
        runner = runners.runner_name(options)
        raise UsageError(
            f"--runner={runner} runs workers that may not see the local path {local[0]}: "
            "put --output and --state-dir (and feed files) on object storage (gs://, "
            "s3://), or on a filesystem every worker mounts and pass --shared-filesystem")


def lock_state(options: PipelineOptions, command: str) -> StateLock:
    """Hold the state directory for this run, or exit 2 if another run has it."""
    opts = options.view_as(NewsbeamOptions)
    try:
        return StateLock(opts.state_directory(), command).acquire(opts.lock_timeout)
    except StateBusy as exc:
        raise UsageError(str(exc)) from None


def feeds_and_output(options: PipelineOptions) -> list[str]:
    """The feed locations, once the flags, the feed list and the output are known good."""
    opts = options.view_as(NewsbeamOptions)
    check_values(options)
    if not opts.feeds:
        raise UsageError("--feeds is required")
    try:
        feeds = load_feed_list(opts.feeds)
    except FeedListError as exc:
        raise UsageError(str(exc)) from None
    check_shared_paths(options, feeds)
    check_output(opts.output)
    opts.sink().prepare(DATASETS)
    return feeds


def start(command: str, description: str, argv: Sequence[str] | None,
          prepare: Callable[[list[str]], T]) -> T | int:
    """Help, logging and ``prepare(argv)``; an int is the status to exit with."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(help_text(f"newsbeam {command}", description))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    heap.tune_malloc()  # before any worker process or thread starts
    try:
        check_abbreviations(args)
        return prepare(args)
    except UsageError as exc:
        print(f"newsbeam {command}: error: {exc}", file=sys.stderr)
        return 2
