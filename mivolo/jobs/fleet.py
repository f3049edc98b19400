"""Many videos on a Ray cluster (`demo.py --engine ray`): one worker actor per device slot, each
loading the models once and running `run_video` (the same video run as in-process) for every
video it is given.

Storage model: --output must be a folder every node sees at the same path (a shared
filesystem). The driver writes a probe file there and every worker must read it back before it
gets work. Each attempt at a video writes into its own staging folder,
OUTPUT/.fleet-staging/<name>.<attempt>/, laid out as OUTPUT itself; only once the worker has
finished does the driver move the files into OUTPUT, the summary last. So an output under its
final name is always whole, and a video's summary in OUTPUT means all of its outputs are there
(what --resume checks).

Faults: a worker that dies (killed, out of memory, node lost) is replaced and its video starts
afresh on a free worker, up to `max_retries` times; a video that fails for its own reasons
(unreadable, corrupt) is recorded as failed with the reason. SIGINT / SIGTERM on the driver stop
the fleet: the workers are killed, unfinished videos' staging folders removed, and
fleet_summary.json (rewritten after every event, so it is also the live state) says which video
is which.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Deque, Dict, List, Optional, Tuple

import ray
from tqdm import tqdm

import mivolo
from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import write_json_atomic
from mivolo.io.sources import VideoSource
from mivolo.jobs.video_job import VideoJobSettings, run_video
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, planned_outputs
from mivolo.sinks.fleet_report import write_fleet_report
from mivolo.sinks.registry import build_sinks

FLEET_SUMMARY_NAME = "fleet_summary.json"
FLEET_SUMMARY_VERSION = 1
STAGING_FOLDER = ".fleet-staging"
CPUS_PER_CPU_WORKER = 4  # without GPUs: torch uses a few cores well, so one worker per 4 CPUs
WORKER_START_TIMEOUT_S = 600.0  # a worker that cannot be placed or load its models in this time is given up
# the driver's settings a worker must share (the user's data folder, offline switches)
FORWARDED_ENV = ("MIVOLO_HOME", "MIVOLO_REID_DIR", "HF_HOME", "HF_HUB_OFFLINE", "YOLO_OFFLINE", "TORCH_HOME")
# ray.exceptions names of a worker lost with its process or node: the video is retried elsewhere
WORKER_SIGNALS = ("SIGINT", "SIGTERM")  # run_video's stopped_by when the worker process itself was signalled
WORKER_LOST = ("RayActorError", "WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError")

# a loader: threads -> (predictor, pipeline settings, Re-ID encoder); mivolo.cli.demo.ModelLoader
ModelLoad = Callable[[int], Tuple[object, object, object]]


@dataclass(frozen=True)
class FleetSettings:
    address: Optional[str] = None  # an existing cluster; None starts a local Ray
    workers: Optional[int] = None  # None: one per GPU slot, else one per CPUS_PER_CPU_WORKER CPUs
    gpus_per_worker: Optional[float] = None  # None: 1 on a cluster with GPUs, else 0
    max_retries: int = 2
    resume: bool = False
    progress: bool = True
    report: bool = False  # also OUTPUT/fleet_report.html (--report)


@dataclass(frozen=True)
class PoolShape:
    workers: int
    cpus: float
    gpus: float


def project_root() -> Path:
    """The folder this driver imported mivolo from: the workers import the same code."""
    return Path(mivolo.__file__).resolve().parent.parent


def worker_runtime_env() -> dict:
    pythonpath = os.pathsep.join(filter(None, [str(project_root()), os.environ.get("PYTHONPATH")]))
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    return {"env_vars": {"PYTHONPATH": pythonpath, **env}}


def connect(address: Optional[str]) -> None:
    """Join the cluster at `address`, or start a local Ray; a session already open is used as is."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, include_dashboard=False, runtime_env=worker_runtime_env(), log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MiVOLOError(f"cannot start or join Ray{f' at {address}' if address else ''}: {str(exc).splitlines()[0]}")


def pool_shape(workers: Optional[int], gpus_per_worker: Optional[float], jobs: int) -> PoolShape:
    """How many workers and what each reserves, from the flags and the cluster's resources."""
    resources = ray.cluster_resources()
    cluster_gpus, cluster_cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    gpus = (1.0 if cluster_gpus else 0.0) if gpus_per_worker is None else gpus_per_worker
    if workers is None:
        workers = int(cluster_gpus // gpus) if gpus else int(cluster_cpus // CPUS_PER_CPU_WORKER)
    workers = max(1, min(workers, jobs))
    if gpus and workers * gpus > cluster_gpus:
        raise MiVOLOError(f"{workers} workers x {gpus:g} GPUs need {workers * gpus:g} GPUs; the cluster has {cluster_gpus:g}")
    if workers > cluster_cpus:
        raise MiVOLOError(f"{workers} workers need a CPU each; the cluster has {cluster_cpus:g}")
    cpus = 1.0 if gpus else max(1.0, float(cluster_cpus // workers))
    return PoolShape(workers, cpus, gpus)


def write_probe(output_dir: Path) -> Tuple[Path, str]:
    token = uuid.uuid4().hex
    probe = write_json_atomic(output_dir / f".fleet-probe-{token}", {"token": token})
    return probe, token


def check_probe(probe: str, token: str) -> None:
    """Raised in a worker that does not see the driver's --output (not a shared filesystem)."""
    try:
        seen = json.loads(Path(probe).read_text()).get("token")
    except (OSError, ValueError):
        seen = None
    if seen != token:
        raise MiVOLOError(
            f"{Path(probe).parent}: the output folder is not visible from the worker on {ray.util.get_node_ip_address()}: "
            "--engine ray needs --output on a filesystem every node sees at the same path"
        )


def worker_description() -> Dict[str, object]:
    context = ray.get_runtime_context()
    return {"worker": context.get_actor_name() or context.get_actor_id(), "node": ray.util.get_node_ip_address(), "pid": os.getpid()}


class VideoWorker:
    """One Ray actor: the models, loaded once by `ready`, then one video per `run` call."""

    def __init__(self, load: ModelLoad, probe: str, token: str, threads: int):
        self.load, self.probe, self.token, self.threads = load, probe, token, threads
        self.models = None

    def ready(self) -> Dict[str, object]:
        check_probe(self.probe, self.token)
        self.models = self.load(self.threads)
        return worker_description()

    def run(self, source: VideoSource, settings: VideoJobSettings) -> dict:
        predictor, pipeline, encoder = self.models
        result = run_video(predictor, source, replace(settings, pipeline=pipeline), encoder)
        summary = json.loads(result.outputs["summary_json"].read_text())
        return {"run": summary["run"], **worker_description()}


# ---- the fleet's record -----------------------------------------------------------------------


@dataclass
class VideoEntry:
    name: str
    input: str
    status: str = "pending"  # pending, running, done, skipped (complete from an earlier run), failed, interrupted
    attempts: int = 0
    worker: Optional[str] = None
    node: Optional[str] = None
    pid: Optional[int] = None  # the worker's process on its node
    error: Optional[str] = None
    completed: Optional[bool] = None  # the source was read to its end (the video summary's run.completed)
    frames: int = 0
    seconds: Optional[float] = None  # run_video's own time on the worker
    wall_seconds: Optional[float] = None  # from handing the video out to its outputs in place; minus seconds = Ray's overhead
    fps: Optional[float] = None
    people: Optional[int] = None
    gender: Dict[str, int] = field(default_factory=dict)
    age_buckets: Dict[str, int] = field(default_factory=dict)
    summary: Optional[str] = None  # the video's summary, relative to the output folder

    def take_run(self, run: dict, summary: Path, output_dir: Path) -> None:
        self.completed, self.frames = run["completed"], run["frames_read"]
        self.seconds, self.fps, self.people = run["seconds"], run["fps"], run["unique_people"]
        self.gender, self.age_buckets = run["gender"], run["age_buckets"]
        self.summary = summary.relative_to(output_dir).as_posix()


@dataclass
class FleetReport:
    output_dir: Path
    entries: Dict[str, VideoEntry]
    workers: int = 0
    started: float = field(default_factory=time.perf_counter)
    frames_this_run: int = 0
    stopped_by: Optional[str] = None
    html: bool = False  # also the page (mivolo.sinks.fleet_report)

    @property
    def path(self) -> Path:
        return self.output_dir / FLEET_SUMMARY_NAME

    def count(self, status: str) -> int:
        return sum(1 for entry in self.entries.values() if entry.status == status)

    def fleet_fps(self) -> float:
        seconds = time.perf_counter() - self.started
        return self.frames_this_run / seconds if seconds > 0 else 0.0

    def document(self) -> dict:
        entries = list(self.entries.values())
        with_results = [e for e in entries if e.status in ("done", "skipped")]
        totals = {status: self.count(status) for status in ("done", "skipped", "failed", "interrupted", "running", "pending")}

        def summed(key: str) -> Dict[str, int]:
            total: Dict[str, int] = {}
            for entry in with_results:
                for name, value in getattr(entry, key).items():
                    total[name] = total.get(name, 0) + value
            return total

        return {
            "version": FLEET_SUMMARY_VERSION,
            "videos": [vars(entry) for entry in entries],
            "totals": {
                "videos": len(entries),
                **totals,
                "people": sum(e.people or 0 for e in with_results),
                "gender": summed("gender"),
                "age_buckets": summed("age_buckets"),
                "frames": sum(e.frames for e in with_results),
                "frames_this_run": self.frames_this_run,
                "seconds": round(time.perf_counter() - self.started, 3),
                "fps": round(self.fleet_fps(), 2),
                "workers": self.workers,
                "stopped_by": self.stopped_by,
            },
        }

    def write(self) -> Path:
        """The summary (and the page), rewritten after every event: also the live state."""
        document = self.document()
        write_json_atomic(self.path, document)
        if self.html:
            write_fleet_report(self.output_dir, document, FLEET_SUMMARY_NAME)
        return self.path


# ---- staging and resuming ---------------------------------------------------------------------


def planned_files(settings: VideoJobSettings, name: str, output_dir: Path) -> List[Path]:
    return planned_outputs(build_sinks(settings.outputs, OutputPlan(VIDEO_RUN, output_dir, name)))[0]


def summary_path(settings: VideoJobSettings, name: str, output_dir: Path) -> Path:
    return next(path for path in planned_files(settings, name, output_dir) if path.name == f"{name}_summary.json")


def finished_summary(settings: VideoJobSettings, name: str) -> Optional[dict]:
    """The video's summary when every output this run asks for is already in place (an earlier
    run finished it), else None. The summary is moved into place last, so it marks a whole set."""
    if not all(path.is_file() for path in planned_files(settings, name, settings.output_dir)):
        return None
    try:
        return json.loads(summary_path(settings, name, settings.output_dir).read_text())
    except (OSError, ValueError):
        return None


def staging_folder(output_dir: Path, name: str, attempt: int) -> Path:
    return output_dir / STAGING_FOLDER / f"{name}.{attempt}"


def remove_staging_root(output_dir: Path) -> None:
    try:
        (output_dir / STAGING_FOLDER).rmdir()
    except OSError:
        pass  # absent, or other videos' staging is still there


def discard_staging(output_dir: Path, name: str) -> None:
    """Every attempt's staging folder of this video (an earlier driver's too)."""
    for folder in (output_dir / STAGING_FOLDER).glob(f"{name}.*"):
        shutil.rmtree(folder, ignore_errors=True)
    remove_staging_root(output_dir)


def promote_staged(staging: Path, output_dir: Path, summary_name: str) -> None:
    """Move a finished video's files into the output folder, its summary last."""
    files = sorted(path for path in staging.rglob("*") if path.is_file())
    files.sort(key=lambda path: path.relative_to(staging).as_posix() == summary_name)
    for path in files:
        target = output_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(staging, ignore_errors=True)
    remove_staging_root(output_dir)


@contextlib.contextmanager
def signals_held():
    """SIGINT / SIGTERM wait until the block is done (then act): a Ctrl-C cannot fall between a
    video's outputs moving into place and the fleet's record saying so."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ---- the driver -------------------------------------------------------------------------------


class FleetStopped(Exception):
    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class WorkerSignalled(Exception):
    """A worker's video run stopped by a signal sent to the worker (a node draining, an operator):
    its outputs are cut short, so the video is retried as for a lost worker."""


def _raise_stop(signum, _frame):
    raise FleetStopped(signal.Signals(signum).name)


def worker_lost(exc: BaseException) -> bool:
    """A worker lost with its process or node, as opposed to the video's own failure."""
    return bool({cls.__name__ for cls in type(exc).__mro__} & set(WORKER_LOST))


def reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    return str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__


class Fleet:
    """The driver's loop: hand each video to a free worker, collect, retry, record."""

    def __init__(self, load: ModelLoad, settings: VideoJobSettings, fleet: FleetSettings, report: FleetReport):
        self.load, self.settings, self.fleet, self.report = load, settings, fleet, report
        self.output_dir = settings.output_dir
        self.run_id = uuid.uuid4().hex[:8]
        self.generation = 0
        self.workers: Dict[int, object] = {}  # slot -> actor
        self.described: Dict[int, Dict[str, object]] = {}
        self.assigned_at: Dict[str, float] = {}  # video name -> when its current attempt was handed out

    def _start_workers(self, slots: List[int], shape: PoolShape, probe: Tuple[Path, str], required: bool) -> None:
        """A worker in each slot, all loading their models at once. At the fleet's start a worker
        that cannot start stops the fleet (`required`: the cause is the user's, e.g. weights a
        node cannot read); a replacement that cannot start leaves its slot empty."""
        ready = {}
        for slot in slots:
            self.generation += 1
            self.workers[slot] = (
                ray.remote(VideoWorker)
                .options(
                    name=f"mivolo-{self.run_id}-worker{slot}.{self.generation}",
                    num_cpus=shape.cpus,
                    num_gpus=shape.gpus,
                    max_restarts=0,  # the driver replaces a lost worker itself, and retries its video
                    runtime_env=worker_runtime_env(),
                )
                .remote(self.load, str(probe[0]), probe[1], max(1, int(shape.cpus)))
            )
            ready[slot] = self.workers[slot].ready.remote()
        for slot, ref in ready.items():
            try:
                self.described[slot] = ray.get(ref, timeout=WORKER_START_TIMEOUT_S)
                continue
            except ray.exceptions.GetTimeoutError:
                problem = f"did not start within {WORKER_START_TIMEOUT_S:.0f} s (not enough free resources?)"
            except ray.exceptions.RayError as exc:
                problem = f"could not start: {reason(exc)}"
            ray.kill(self.workers.pop(slot))
            if required:
                raise MiVOLOError(f"a Ray worker {problem}")
            tqdm.write(f"a replacement Ray worker {problem}; going on with {len(self.workers)} workers")

    def _stop_workers(self) -> None:
        for actor in self.workers.values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - a terminal's Ctrl-C may be taking the local Ray down with us
                pass
        self.workers = {}

    def run(self, sources: List[VideoSource]) -> FleetReport:
        report = self.report
        shape = pool_shape(self.fleet.workers, self.fleet.gpus_per_worker, len(sources))
        report.workers = shape.workers
        probe = write_probe(self.output_dir)
        queue: Deque[Tuple[VideoSource, int]] = deque((source, 1) for source in sources)
        running: Dict[object, Tuple[int, VideoSource, int]] = {}  # result ref -> (slot, source, attempt)
        progress = tqdm(
            total=len(report.entries), initial=len(report.entries) - len(sources), unit="video", desc="fleet",
            disable=not self.fleet.progress, dynamic_ncols=True,
        )  # fmt: skip
        # SIGTERM stops the fleet as Ctrl-C does (handlers can only be set in the main thread)
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _raise_stop) if in_main else None
        try:
            self._start_workers(list(range(shape.workers)), shape, probe, required=True)
            idle = deque(self.workers)
            while queue or running:
                if not self.workers:  # every replacement failed: nothing can run the rest
                    for source, _ in queue:
                        self._fail(source, "no Ray worker left to run it")
                    queue.clear()
                    break
                while idle and queue:
                    slot = idle.popleft()
                    source, attempt = queue.popleft()
                    running[self._assign(slot, source, attempt)] = (slot, source, attempt)
                done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in done:
                    slot, source, attempt = running.pop(ref)
                    if self._collect(ref, slot, source, attempt, queue, shape, probe):
                        progress.update(1)
                    if slot in self.workers:
                        idle.append(slot)
                progress.set_postfix_str(f"{report.fleet_fps():.1f} frames/s")
        except (KeyboardInterrupt, FleetStopped) as exc:
            report.stopped_by = exc.signal_name if isinstance(exc, FleetStopped) else "SIGINT"
            for entry in report.entries.values():
                if entry.status == "running":
                    entry.status = "interrupted"
            raise
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
            progress.close()
            self._stop_workers()
            for entry in report.entries.values():
                if entry.status not in ("done", "skipped"):
                    discard_staging(self.output_dir, entry.name)
            probe[0].unlink(missing_ok=True)
            report.write()
        return report

    def _fail(self, source: VideoSource, error: str) -> None:
        entry = self.report.entries[source.name]
        entry.status, entry.error = "failed", error
        tqdm.write(f"{source.name}: failed: {error}")
        self.report.write()

    def _assign(self, slot: int, source: VideoSource, attempt: int):
        entry = self.report.entries[source.name]
        discard_staging(self.output_dir, source.name)  # an attempt starts afresh
        staging = staging_folder(self.output_dir, source.name, attempt)
        staging.mkdir(parents=True)
        entry.status, entry.attempts, entry.error = "running", attempt, None
        entry.worker, entry.node, entry.pid = (self.described[slot][key] for key in ("worker", "node", "pid"))
        self.assigned_at[source.name] = time.perf_counter()
        self.report.write()
        return self.workers[slot].run.remote(source, replace(self.settings, output_dir=staging, progress=False))

    def _collect(self, ref, slot, source, attempt, queue, shape, probe) -> bool:
        """One video's answer; True when the video is finished one way or the other."""
        entry = self.report.entries[source.name]
        staging = staging_folder(self.output_dir, source.name, attempt)
        try:
            answer = ray.get(ref)
            if answer["run"]["stopped_by"] in WORKER_SIGNALS:
                raise WorkerSignalled(f"the worker was sent {answer['run']['stopped_by']}")
        except (ray.exceptions.RayError, WorkerSignalled) as exc:
            discard_staging(self.output_dir, source.name)
            if isinstance(exc, WorkerSignalled) or worker_lost(exc):
                ray.kill(self.workers.pop(slot), no_restart=True)  # gone already, or on its way out
                self._start_workers([slot], shape, probe, required=False)
                if attempt <= self.fleet.max_retries:
                    entry.status = "pending"
                    queue.appendleft((source, attempt + 1))
                    tqdm.write(f"{source.name}: worker lost ({reason(exc)}); retrying (attempt {attempt + 1})")
                    self.report.write()
                    return False
                self._fail(source, f"worker lost {attempt} times, last: {reason(exc)}")
            else:
                self._fail(source, reason(exc))
            return True
        summary = summary_path(self.settings, source.name, self.output_dir)
        with signals_held():
            promote_staged(staging, self.output_dir, summary.name)
            entry.status = "done"
            entry.take_run(answer["run"], summary, self.output_dir)
            entry.wall_seconds = round(time.perf_counter() - self.assigned_at[source.name], 3)
            self.report.frames_this_run += entry.frames
            self.report.write()
        tqdm.write(
            f"{source.name}: done on {entry.worker} ({entry.node}): {entry.frames} frames, {entry.fps:.1f} FPS, "
            f"{entry.people} people"
        )
        return True


def run_fleet(load: ModelLoad, sources: List[VideoSource], settings: VideoJobSettings, fleet: FleetSettings) -> FleetReport:
    """Every video through a pool of Ray workers (see the module docstring); the fleet's record,
    also written to OUTPUT/fleet_summary.json. SIGINT raises KeyboardInterrupt and SIGTERM
    FleetStopped once the fleet has been stopped and recorded."""
    output_dir = settings.output_dir
    entries = {source.name: VideoEntry(source.name, source.display_name) for source in sources}
    report = FleetReport(output_dir, entries, html=fleet.report)
    todo = []
    for source in sources:
        finished = finished_summary(settings, source.name) if fleet.resume else None
        if finished is None:
            todo.append(source)
            continue
        entry = report.entries[source.name]
        entry.status = "skipped"
        entry.take_run(finished["run"], summary_path(settings, source.name, output_dir), output_dir)
        tqdm.write(f"{source.name}: skipped, its outputs are complete")
    for source in todo:
        discard_staging(output_dir, source.name)  # what a killed earlier driver left
    if not todo:
        report.write()
        return report
    connect(fleet.address)
    return Fleet(load, settings, fleet, report).run(todo)
