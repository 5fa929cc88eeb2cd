"""A task run: what is asked (TaskRequest), checked before any work (edit_spec, which describes it as the
EditSpec every worker gets), then run (`run`: an image in process, a video as the sharded job of
video/job.py). `run_request` does both, `run_task` from keywords."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..core.errors import InputError, OptionError, OutputError
from ..core.outputs import check_outputs, output_lock
from ..edit.spec import EditSpec
from ..faces.analyze import FaceAnalyzer
from ..faces.preview import TaskSheet, save_sheet
from ..media import image_output_check, is_image_path, write_image
from ..media.credentials import SigningKey, sign
from ..media.encode import plan_coding
from ..media.marks import EditMark, read_mark
from ..media.sequence import is_sequence_path
from ..media.source import Source, open_source
from ..media.writers import moving_output_check
from ..render.registry import backend as record_backend
from ..render.registry import option_files, with_absolute_files
from ..video.config import RunConfig

if TYPE_CHECKING:
    from ..tasks.assemble import Edits


@dataclass(frozen=True)
class TaskRequest:
    """A FaceX task as a user asks for it (the `facex TASK` flags). The footage is `target`, or `driving`
    for a task whose record streams the driving video (reenact); the other inputs are still faces.
    take: component -> input (mix). faces: track ids to edit (None: all). backend_options: the backend's
    Options (render/registry.py; None: its defaults)."""

    task: str
    source: str | Path | None = None
    target: str | Path | None = None
    driving: str | Path | None = None
    take: Mapping[str, str] | None = None
    edits: Edits | None = None
    faces: frozenset[int] | set[int] | None = None
    inpaint_region: str | None = None
    inpaint_mask: str | Path | None = None
    backend: str = "geometric"
    backend_options: Any = None
    identity_model: str | Path | None = None
    detector_model: str | Path | None = None
    fps: Fraction | None = None  # an image sequence's frame rate (--fps)
    frames: tuple[int, int] | None = None  # only frames [start, stop) of the footage (--frames START:STOP)
    watermark: bool = True  # the invisible watermark in edited faces (faces/watermark.py; --no-watermark)

    def inputs(self) -> dict[str, str | Path]:
        """Every file the run reads, by what it is (for messages): no output may be one of them."""
        from ..tasks.table import task as record

        streams = {"driving": ("driving video", self.driving), "target": ("target", self.target)}
        stream_label, stream_path = streams[record(self.task).stream_role]
        inputs: dict[str, str | Path | None] = {
            stream_label: stream_path, "source": self.source, "inpaint mask": self.inpaint_mask,
            "--identity-model": self.identity_model, "--detector-model": self.detector_model}
        inputs.update({f"{component} take": path for component, path in (self.take or {}).items()})
        if self.backend_options is not None:
            inputs.update(option_files(self.backend_options))
        return {role: path for role, path in inputs.items() if path is not None}


def run_task(task: str, output: str | Path, *, preview: str | Path | None = None, config: RunConfig | None = None,
             progress: bool | None = None, **request: Any) -> dict:
    """run_request in one call: `request` holds TaskRequest's fields; `config` how a video runs (default:
    RunConfig()); `progress`, when given, overrides the config's."""
    config = config or RunConfig()
    if progress is not None:
        config = replace(config, progress=progress)
    return run_request(TaskRequest(task, **request), output, config, preview=preview)


def run_request(request: TaskRequest, output: str | Path, config: RunConfig, *,
                preview: str | Path | None = None) -> dict:
    """Check (edit_spec), then run: the checks' face analyzer is reused by an image run."""
    analyzer = SharedAnalyzer(request.detector_model)
    try:
        spec = edit_spec(request, output, preview=preview, analyzer=analyzer)
        return run(spec, output, config, preview=preview, analyzer=analyzer)
    finally:
        analyzer.close()


def run(spec: EditSpec, output: str | Path, config: RunConfig, *, preview: str | Path | None = None,
        analyzer: SharedAnalyzer | None = None) -> dict:
    """Run a checked task (edit_spec) and write `output` atomically: an image in process (the output locked
    while written), a video as the sharded job of video/job.py on `config`'s runner. analyzer: one the
    checks already loaded, reused for an image. Returns the track summary: "tracks" found, "edited" (the ids
    edited), for a video the shard counts, and "signed": whether C2PA Content Credentials, signed with
    `config`'s certificate, were embedded (the edit mark in the metadata is always there)."""
    key = SigningKey.load(config.sign_cert, config.sign_key)  # a wrong flag fails before any work
    summary = _run(spec, output, config, preview=preview, analyzer=analyzer)
    summary["signed"] = key is not None and sign(Path(output), Path(spec.stream), _written_mark(output), key)
    return summary


def _written_mark(output: str | Path) -> EditMark:
    mark = read_mark(output)
    if mark is None:  # every writer of a task's output marks it
        raise RuntimeError(f"{output}: written without its edit mark")
    return mark


def _run(spec: EditSpec, output: str | Path, config: RunConfig, *, preview: str | Path | None,
         analyzer: SharedAnalyzer | None) -> dict:
    stream = spec.open_stream()
    if not stream.is_image:
        from ..video.job import run_job

        if not is_sequence_path(output):  # the codec decided once, now: a container that cannot hold it fails
            coding = plan_coding(output, config.encoding, stream.video, stream.width, stream.height)
            config = replace(config, codec=coding.codec)
        return run_job(spec, output, config, preview=preview)
    with output_lock(output):
        return _run_image_task(spec, output, preview=preview, progress=config.progress,
                               analyzer=analyzer.get() if analyzer is not None else None)


class SharedAnalyzer:
    """A FaceAnalyzer made on first use: the up-front checks of a task's stills and an image task's run share
    it, and a request refused by a cheap check never loads a model."""

    def __init__(self, detector_model: str | Path | None = None):
        self.detector_model = detector_model
        self._analyzer: FaceAnalyzer | None = None

    def get(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = FaceAnalyzer(detector_model=self.detector_model)
        return self._analyzer

    def close(self) -> None:
        if self._analyzer is not None:
            self._analyzer.close()
            self._analyzer = None


@overload
def _absolute(path: str | Path) -> str: ...
@overload
def _absolute(path: None) -> None: ...
@overload
def _absolute(path: str | Path | None) -> str | None: ...
def _absolute(path: str | Path | None) -> str | None:
    """A path as the workers get it: absolute, so a Ray worker in another directory finds it."""
    return str(Path(path).absolute()) if path is not None else None



def edit_spec(request: TaskRequest, output: str | Path, *, preview: str | Path | None = None,
              analyzer: SharedAnalyzer | None = None) -> EditSpec:
    """Check a task request before any work (OutputError/InputError/OptionError/ModelError naming what is
    wrong) and describe it: the outputs are not inputs, options in range, every input readable, every still
    image holding a face, every model file loadable. analyzer: shared with the caller (else one is made)."""
    r = request
    task, source, target, driving, take, edits, faces = r.task, r.source, r.target, r.driving, r.take, r.edits, r.faces
    inpaint_region, inpaint_mask, identity_model, detector_model = (r.inpaint_region, r.inpaint_mask,
                                                                    r.identity_model, r.detector_model)
    from ..core.options import check_edits, track_ids
    from ..edit.spec import EditSpec
    from ..tasks.table import task as record

    try:
        the_task = record(task)
    except ValueError as e:
        raise OptionError("task", str(e)) from None
    stream_role = the_task.stream_role
    stream_path = {"driving": driving, "target": target}[stream_role]
    if stream_path is None:
        raise OutputError(output, f"{task} needs --{stream_role}")
    if the_task.needs_source and source is None:
        raise OutputError(output, f"{task} needs --source")
    if edits is not None:
        check_edits(edits)
    if faces is not None:
        track_ids(faces)
    check_outputs(request.inputs(), output, preview)
    if preview is not None:
        image_output_check(preview)
    stream = open_source(stream_path, r.fps)
    if r.frames is not None:
        try:
            stream = stream.window(*r.frames)
        except ValueError as e:
            raise OptionError("--frames", str(e)) from None
    stills: dict[str, str] = {}
    if the_task.takes_components:
        try:
            components = the_task.components({c: ("target" if Path(p) == Path(stream_path) else str(p))
                                              for c, p in (take or {}).items()})
        except ValueError as e:
            raise OptionError("--take", str(e)) from None
        stills = {r: r for r in set(components.values()) if r != "target"}
    else:
        components = the_task.components()
        if source is not None:
            stills["source"] = str(source)
    # what each still is, for messages: the source, or for a mix the components taken from it
    labels = {r: ("+".join(c for c, role in components.items() if role == r) + " take"
                  if the_task.takes_components else r) for r in stills}
    for role, path in stills.items():
        if not Path(path).is_file():
            raise InputError(path, f"no such file (the {labels[role]} of {task})")
        open_source(path)  # readable: InputError naming it if not
    video_out = not stream.is_image
    if video_out != (not is_image_path(output)):
        raise OutputError(output, f"the {stream_role} {stream.path.name} is {'a video' if video_out else 'an image'}; "
                                  "give an output of the same kind")
    (moving_output_check if video_out else image_output_check)(output)
    if the_task.takes_mask and inpaint_region is None and inpaint_mask is None:
        raise OutputError(output, "inpaint needs --region NAME or --mask MASK.png")
    if inpaint_mask is not None:
        _check_mask(inpaint_mask, stream)
    if edits is not None and edits.expression:
        from ..tasks.expression import check_names

        try:
            check_names(edits.expression)
        except ValueError as e:
            raise OptionError("--expr", str(e)) from None
    backend = record_backend(request.backend)
    options = backend.options(request.backend_options)
    backend.check(task, options)  # what is missing or wrong fails now, not in a worker
    if identity_model is not None:  # the workers load it; a wrong file fails here, not in a shard
        from ..ford.identity import load_identity_encoder

        load_identity_encoder(identity_model)
    _check_still_faces(task, {labels[r]: p for r, p in stills.items()}, detector_model, analyzer)
    return EditSpec(task, _absolute(stream_path), {r: _absolute(p) for r, p in stills.items()}, components, edits=edits,
                    faces=frozenset(faces) if faces is not None else None, inpaint_region=inpaint_region,
                    inpaint_mask=_absolute(inpaint_mask), backend=request.backend,
                    backend_options=with_absolute_files(options), identity_model=_absolute(identity_model),
                    detector_model=_absolute(detector_model), stream_fps=stream.fps if stream.sequence else None,
                    frames=r.frames, watermark=r.watermark)


def _check_mask(mask: str | Path, stream: Source) -> None:
    """An inpaint mask is an image in the footage's pixels."""
    from ..media import read_image

    if not Path(mask).is_file():
        raise InputError(mask, "no such file (the inpaint mask)")
    if not is_image_path(mask):
        raise InputError(mask, "the inpaint mask must be an image (white = regenerate)")
    image = read_image(mask)
    if image.shape[:2] != (stream.height, stream.width):
        raise InputError(mask, f"the inpaint mask is {image.shape[1]}x{image.shape[0]} but the footage "
                               f"{stream.path.name} is {stream.width}x{stream.height}: a mask is in its pixels")


def _check_still_faces(task: str, stills: dict[str, str], detector_model, analyzer: SharedAnalyzer | None) -> None:
    """Each still image holds a face (the workers take its largest); a video still is only probed here (its
    first frame with a face is found by the workers). A given --detector-model is loaded here either way."""
    from ..media import read_image

    images = {role: path for role, path in stills.items() if is_image_path(path)}
    if not images and detector_model is None:
        return
    shared = analyzer if analyzer is not None else SharedAnalyzer(detector_model)
    try:
        fa = shared.get()
        for role, path in images.items():
            if not fa.analyze(read_image(path)):
                raise InputError(path, f"no face found: the {role} of {task} needs a visible face")
    finally:
        if analyzer is None:
            shared.close()


def _run_image_task(spec: EditSpec, output: str | Path, *, preview: str | Path | None, progress: bool,
                    analyzer: FaceAnalyzer | None = None) -> dict:
    """One image through the in-process two passes of edit/face_edit.py."""
    from ..edit.face_edit import build_task, edit_frames, plan_tracks
    from ..video.plan import selected_tracks

    stream = spec.open_stream()
    sheet = TaskSheet({0}, float(stream.fps)) if preview is not None else None
    with contextlib.ExitStack() as stack:
        if analyzer is None:
            analyzer = stack.enter_context(FaceAnalyzer(detector_model=spec.detector_model))
        task = build_task(spec, analyzer)
        plan = plan_tracks(stream, analyzer, progress=progress)
        present = [fid for fid in plan.final_ids.values() if fid is not None]
        edited = selected_tracks(spec.faces, present, stream.path)
        frames = edit_frames(task, stream, analyzer, plan, progress=progress)
        if sheet is not None:
            frames = _sampled(frames, sheet)
        mark = EditMark(spec.task, spec.backend, tuple((face, 0, 1) for face in sorted(edited)),
                        watermark=spec.watermark)
        for _, result in frames:
            write_image(output, result, mark=mark)
    if sheet is not None and preview is not None:  # a sheet exists only for a preview
        save_sheet(preview, sheet.render({role: face.rgb for role, face in task.stills.items()}, task.stream_role))
    return {"task": spec.task, "tracks": sorted(present), "edited": edited}


def _sampled(frames, sheet: TaskSheet):
    """Pass (frame, result) pairs through, keeping the sampled ones for the preview sheet."""
    for frame, result in frames:
        sheet.offer(frame.index, frame.rgb, result)
        yield frame, result
