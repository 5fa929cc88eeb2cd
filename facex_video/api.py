"""Python entry points behind the `facex` commands; each validates outputs first, then streams the input."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

from .atomic import check_writable_dir, write_text_atomic
from .errors import InputError, OptionError, OutputError
from .faces.analyze import FaceAnalyzer
from .media import VideoWriter, image_output_check, is_image_path, output_check, write_image
from .outputs import check_distinct_outputs, check_not_input, output_lock
from .preview import ContactSheet, TaskSheet, save_sheet
from .video.source import Source, open_source
from .video.stages import TrackingResult, passthrough_frame, sample_indices, track_frames, track_summary

if TYPE_CHECKING:
    from .ford.identity import IdentityEncoder
    from .render.facex import FaceXOptions
    from .spec import EditSpec, RunConfig
    from .tasks.assemble import Edits


@overload
def _absolute(path: str | Path) -> str: ...
@overload
def _absolute(path: None) -> None: ...
@overload
def _absolute(path: str | Path | None) -> str | None: ...
def _absolute(path: str | Path | None) -> str | None:
    """A path as the workers get it: absolute, so a Ray worker in another directory finds it."""
    return str(Path(path).absolute()) if path is not None else None


def check_outputs(inputs: Mapping[str, str | Path | None], output: str | Path,
                  preview: str | Path | None = None) -> None:
    """Before any work: no output (-o, --preview) is a folder (one that exists, or a path ending in a
    separator, as `-o results/` means one), one of the command's inputs (role -> path), or the other output."""
    for flag, path in (("-o", output), ("--preview", preview)):
        if path is not None and (Path(path).is_dir() or str(path).endswith(("/", os.sep))):
            raise OutputError(path, f"{flag} is a folder; give a file name")
    check_not_input(output, inputs)
    check_not_input(preview, inputs, flag="--preview")
    check_distinct_outputs({"-o": output, "--preview": preview})


def _sheet_for(source: Source, preview: str | Path | None) -> ContactSheet | None:
    if preview is None:
        return None
    image_output_check(preview)
    # one still: show it large; a video: a grid of 480 px thumbnails
    width = min(source.width, 1280) if source.is_image else 480
    return ContactSheet(set(sample_indices(source.frame_count)), float(source.fps), thumb_width=width)


def tracks(
    input: str | Path,
    output: str | Path,
    *,
    preview: str | Path | None = None,
    detector_model: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Find and track every face of an image or video; write the tracks as JSON (and a contact sheet)."""
    check_outputs({"input": input}, output, preview)
    check_writable_dir(output)
    source = open_source(input)
    sheet = _sheet_for(source, preview)
    result = TrackingResult(source)
    with output_lock(output), FaceAnalyzer(detector_model=detector_model) as analyzer:
        for frame in track_frames(source, analyzer, result, progress=progress, desc="tracks"):
            if sheet:
                sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
        summary = track_summary(result)
        write_text_atomic(output, json.dumps(summary, indent=1))
        if sheet is not None and preview is not None:  # a sheet exists only for a preview
            save_sheet(preview, sheet.render(result.final_id))
    return summary


def passthrough(
    input: str | Path,
    output: str | Path,
    *,
    preview: str | Path | None = None,
    crf: int = 16,
    preset: str = "medium",
    detector_model: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Crop every tracked face to the canonical alignment, paste it back unchanged, re-encode.

    The round trip every edit makes, with the edit left out: a check of alignment, paste-back and
    encoding on the user's own footage. Returns the same summary as `tracks`.
    """
    check_outputs({"input": input}, output, preview)
    source = open_source(input)
    if source.is_image != is_image_path(output):
        kind = "an image" if source.is_image else "a video"
        raise OutputError(output, f"input {source.path.name} is {kind}; give an output of the same kind")
    (image_output_check if source.is_image else output_check)(output)
    sheet = _sheet_for(source, preview)
    result = TrackingResult(source)
    with output_lock(output), FaceAnalyzer(detector_model=detector_model) as analyzer:
        frames = track_frames(source, analyzer, result, progress=progress, desc="passthrough")
        info = source.video
        if info is None:  # a still image
            for frame in frames:
                write_image(output, passthrough_frame(frame))
                if sheet:
                    sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
        else:
            with VideoWriter(
                output, fps=info.fps, width=info.width, height=info.height, crf=crf, preset=preset,
                time_base=info.time_base, audio_from=source.path,
            ) as writer:
                for frame in frames:
                    writer.write(passthrough_frame(frame), pts=frame.pts)
                    if sheet:
                        sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
        if sheet is not None and preview is not None:  # a sheet exists only for a preview
            save_sheet(preview, sheet.render(result.final_id))
    return track_summary(result)


@dataclass
class AnalysisModels:
    """The models `analyze` needs, loaded once and reused across inputs (e.g. by a Ray actor)."""

    analyzer: FaceAnalyzer
    encoder: IdentityEncoder

    @classmethod
    def load(cls, *, identity_model: str | Path | None = None,
             detector_model: str | Path | None = None) -> AnalysisModels:
        from .ford.identity import load_identity_encoder

        encoder = load_identity_encoder(identity_model)  # first: a wrong file fails before MediaPipe loads
        return cls(FaceAnalyzer(detector_model=detector_model), encoder)


def analyze(
    input: str | Path,
    output: str | Path,
    *,
    preview: str | Path | None = None,
    identity_model: str | Path | None = None,
    detector_model: str | Path | None = None,
    with_crops: bool = False,
    progress: bool = True,
    models: AnalysisModels | None = None,
) -> dict:
    """FORD on every face of an image or video: one Parquet row per face per frame (DESIGN.md section 4).

    models: loaded models to reuse (then identity_model/detector_model are ignored); else loaded here."""
    from .ford.dataset import RepresentationWriter
    from .ford.decompose import FaceDecomposer
    from .ford.draw import FordSheet
    from .video.stages import analyze_frames

    check_outputs({"input": input, "--identity-model": identity_model, "--detector-model": detector_model},
                  output, preview)
    if Path(output).suffix.lower() != ".parquet":
        raise OutputError(output, "the representation is written as Parquet: give a .parquet file")
    check_writable_dir(output)
    source = open_source(input)
    sheet = None
    if preview is not None:
        image_output_check(preview)
        sheet = FordSheet(set(sample_indices(source.frame_count, 9)),
                          thumb_width=min(source.width, 1280) if source.is_image else 512)
    own = models is None
    if models is None:
        models = AnalysisModels.load(identity_model=identity_model, detector_model=detector_model)

    def collect(frame, reps) -> None:
        if sheet:
            sheet.offer(frame.index, source.seconds(frame.pts), frame.rgb, reps)

    try:
        with output_lock(output):
            decomposer = FaceDecomposer(encoder=models.encoder)
            writer = RepresentationWriter(output, decomposer.embedding_dim)
            result = analyze_frames(source, models.analyzer, decomposer, writer, with_crops=with_crops,
                                    progress=progress, on_frame=collect)
            if sheet and preview is not None:  # a sheet exists only for a preview
                save_sheet(preview, sheet.render(result.final_id))
    finally:
        if own:
            models.analyzer.close()
    summary = track_summary(result)
    summary["rows"] = writer.rows
    return summary


def run_task(
    task: str,
    output: str | Path,
    *,
    source: str | Path | None = None,
    target: str | Path | None = None,
    driving: str | Path | None = None,
    take: dict[str, str] | None = None,
    edits: Edits | None = None,
    faces: set[int] | None = None,
    inpaint_region: str | None = None,
    inpaint_mask: str | Path | None = None,
    backend: str = "geometric",
    swapper_model: str | Path | None = None,
    facex: FaceXOptions | None = None,
    identity_model: str | Path | None = None,
    detector_model: str | Path | None = None,
    preview: str | Path | None = None,
    crf: int = 16,
    preset: str = "medium",
    progress: bool = True,
    run: RunConfig | None = None,
) -> dict:
    """Any FaceX task (tasks/table.py) on an image or video: the footage is `target` (or `driving` for
    reenact), the other inputs are still faces; writes `output` atomically. A video runs as the sharded
    job of video/job.py (`run` picks the runner, inline by default; crf/preset/progress fill a default
    RunConfig); an image in process. facex: weights and sampler of `backend="facex"` (render/facex.py).
    Every input and option is checked first (edit_spec); the output is locked while it is written.
    Returns the track summary: "tracks" found, "edited" (the ids edited) and, for a video, the shard counts."""
    from .spec import RunConfig

    config = run or RunConfig(crf=crf, preset=preset, progress=progress)  # its values are checked here
    analyzer = SharedAnalyzer(detector_model)
    try:
        spec = edit_spec(task, output, source=source, target=target, driving=driving, take=take, edits=edits,
                         faces=faces, inpaint_region=inpaint_region, inpaint_mask=inpaint_mask, backend=backend,
                         swapper_model=swapper_model, facex=facex, identity_model=identity_model,
                         detector_model=detector_model, preview=preview, analyzer=analyzer)
        if preview is not None:
            image_output_check(preview)
        if open_source(spec.stream).is_image:
            with output_lock(output):
                return _run_image_task(spec, output, preview=preview, progress=progress, analyzer=analyzer.get())
    finally:
        analyzer.close()
    from .video.job import run_job

    return run_job(spec, output, config, preview=preview)


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


def task_inputs(task: str, *, source=None, target=None, driving=None, take=None, inpaint_mask=None,
                swapper_model=None, facex=None, identity_model=None, detector_model=None) -> dict[str, str | Path]:
    """Every file a task run reads, by what it is (for messages): no output may be one of them."""
    from .tasks.table import task as record

    streams = {"driving": ("driving video", driving), "target": ("target", target)}
    stream_label, stream_path = streams[record(task).stream_role]
    inputs = {stream_label: stream_path, "source": source, "inpaint mask": inpaint_mask,
              "--swapper-model": swapper_model, "--identity-model": identity_model, "--detector-model": detector_model}
    inputs.update({f"{component} take": path for component, path in (take or {}).items()})
    if facex is not None:
        inputs.update({"--base-model": facex.base_model, "--facex-checkpoint": facex.checkpoint})
    return {role: path for role, path in inputs.items() if path is not None}


def edit_spec(
    task: str, output: str | Path, *, source=None, target=None, driving=None, take=None, edits=None, faces=None,
    inpaint_region=None, inpaint_mask=None, backend="geometric", swapper_model=None, facex=None, identity_model=None,
    detector_model=None, preview=None, analyzer: SharedAnalyzer | None = None,
) -> EditSpec:
    """Check a task request before any work (OutputError/InputError/OptionError/ModelError naming what is
    wrong) and describe it: the outputs are not inputs, options in range, every input readable, every still
    image holding a face, every model file loadable. analyzer: shared with the caller (else one is made)."""
    from .options import check_edits, track_ids
    from .spec import EditSpec
    from .tasks.table import task as record

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
    check_outputs(task_inputs(task, source=source, target=target, driving=driving, take=take,
                              inpaint_mask=inpaint_mask, swapper_model=swapper_model, facex=facex,
                              identity_model=identity_model, detector_model=detector_model), output, preview)
    stream = open_source(stream_path)
    stills: dict[str, str] = {}
    if the_task.takes_components:
        try:
            components = the_task.components({c: ("target" if Path(p) == Path(target) else str(p))
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
    (output_check if video_out else image_output_check)(output)
    if the_task.takes_mask and inpaint_region is None and inpaint_mask is None:
        raise OutputError(output, "inpaint needs --region NAME or --mask MASK.png")
    if inpaint_mask is not None:
        _check_mask(inpaint_mask, stream)
    if edits is not None and edits.expression:
        from .tasks.expression import check_names

        try:
            check_names(edits.expression)
        except ValueError as e:
            raise OptionError("--expr", str(e)) from None
    from .render.facex import check_facex
    from .render.registry import load_renderer

    if backend == "facex":  # its weights load in the workers; here only what is missing fails at once
        check_facex(task, facex)
    else:
        load_renderer(backend, task, swapper_model=swapper_model)  # a wrong backend or model fails now
    if identity_model is not None:  # the workers load it; a wrong file fails here, not in a shard
        from .ford.identity import load_identity_encoder

        load_identity_encoder(identity_model)
    _check_still_faces(task, {labels[r]: p for r, p in stills.items()}, detector_model, analyzer)
    return EditSpec(task, _absolute(stream_path), {r: _absolute(p) for r, p in stills.items()}, components, edits=edits,
                    faces=frozenset(faces) if faces is not None else None, inpaint_region=inpaint_region,
                    inpaint_mask=_absolute(inpaint_mask), backend=backend, swapper_model=_absolute(swapper_model),
                    identity_model=_absolute(identity_model), detector_model=_absolute(detector_model), facex=facex)


def _check_mask(mask: str | Path, stream: Source) -> None:
    """An inpaint mask is an image in the footage's pixels."""
    from .media import read_image

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
    from .media import read_image

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
    """One image through the in-process two passes of video/edit.py."""
    from .video.edit import build_task, edit_frames, plan_tracks
    from .video.plan import selected_tracks

    stream = open_source(spec.stream)
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
        for _, result in frames:
            write_image(output, result)
    if sheet is not None and preview is not None:  # a sheet exists only for a preview
        save_sheet(preview, sheet.render({role: face.rgb for role, face in task.stills.items()}, task.stream_role))
    return {"task": spec.task, "tracks": sorted(present), "edited": edited}


def _sampled(frames, sheet: TaskSheet):
    """Pass (frame, result) pairs through, keeping the sampled ones for the preview sheet."""
    for frame, result in frames:
        sheet.offer(frame.index, frame.rgb, result)
        yield frame, result
