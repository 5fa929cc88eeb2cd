"""Python entry points behind the `facex` commands; each validates outputs first, then streams the input.

The footage commands (tracks, passthrough, analyze) are here; a task run is `run(edit_spec(TaskRequest(...),
output), output, RunConfig(...))` (api/task.py), or `run_task` in one call."""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.atomic import check_writable_dir, write_text_atomic
from ..core.errors import OutputError
from ..core.outputs import check_outputs, output_lock
from ..edit.stages import TrackingResult, passthrough_frame, sample_indices, track_frames, track_summary
from ..faces.analyze import FaceAnalyzer
from ..faces.preview import ContactSheet, save_sheet
from ..media import image_output_check, is_image_path, write_image
from ..media.encode import plan_coding
from ..media.formats import Encoding
from ..media.marks import EditMark
from ..media.sequence import is_sequence_path
from ..media.source import Source, open_source
from ..media.writers import frame_writer, moving_output_check
from .task import TaskRequest, edit_spec, run, run_request, run_task

__all__ = ["AnalysisModels", "TaskRequest", "analyze", "edit_spec", "passthrough", "run", "run_request", "run_task",
           "tracks"]

if TYPE_CHECKING:
    from ..ford.identity import IdentityEncoder


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


PASSTHROUGH = EditMark("passthrough", synthetic=False)  # faces cropped and pasted back unchanged: marked, not edited
PASTE_AHEAD = 2  # frames a passthrough's paste thread may hold before the writer takes them

def passthrough(
    input: str | Path,
    output: str | Path,
    *,
    preview: str | Path | None = None,
    crf: int = 16,
    preset: str = "medium",
    codec: str = "same",
    fps: Fraction | None = None,
    detector_model: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Crop every tracked face to the canonical alignment, paste it back unchanged, re-encode.

    The round trip every edit makes, with the edit left out: a check of alignment, paste-back and
    encoding on the user's own footage. A video comes back in its own coding (codec family, depth, chroma,
    colour, timecode) unless `codec` says otherwise; a deep plate is cropped and pasted at 16 bits. Returns
    the same summary as `tracks`.
    """
    encoding = Encoding(codec, crf, preset)  # an OptionError naming the flag before anything is read
    check_outputs({"input": input}, output, preview)
    source = open_source(input, fps)
    if source.is_image != is_image_path(output):
        kind = "an image" if source.is_image else "a video"
        raise OutputError(output, f"input {source.path.name} is {kind}; give an output of the same kind")
    (image_output_check if source.is_image else moving_output_check)(output)
    if not source.is_image and not is_sequence_path(output):  # decided now: a codec the container cannot
        encoding = Encoding(plan_coding(output, encoding, source.video, source.width, source.height).codec,
                            crf, preset)  # hold fails before the tracking
    sheet = _sheet_for(source, preview)
    result = TrackingResult(source)
    with output_lock(output), FaceAnalyzer(detector_model=detector_model) as analyzer:
        frames = track_frames(source, analyzer, result, progress=progress, desc="passthrough")
        info = source.video
        if info is None:  # a still image
            for frame in frames:
                write_image(output, passthrough_frame(frame), mark=PASSTHROUGH)
                if sheet:
                    sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
        else:
            with frame_writer(Path(output), source, encoding, audio=True, mark=PASSTHROUGH) as writer, \
                    ThreadPoolExecutor(1, thread_name_prefix="facex-paste") as paster:
                # a deep plate is decoded a second time at 16 bits, in step with the 8-bit frames tracked
                deep = (rgb for _, rgb, _ in source.frames(deep=True)) if writer.deep else None
                # faces are cropped and pasted back on a thread of their own while the next frame is
                # tracked (and encoded on the writer's): the three keep two cores busy
                pasting: deque[tuple[Future, int]] = deque()
                for frame in frames:
                    pasting.append((paster.submit(passthrough_frame, frame, None if deep is None else next(deep)),
                                    frame.pts))
                    if len(pasting) > PASTE_AHEAD:
                        future, pts = pasting.popleft()
                        writer.write(future.result(), pts=pts)
                    if sheet:
                        sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
                for future, pts in pasting:
                    writer.write(future.result(), pts=pts)
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
        from ..ford.identity import load_identity_encoder

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
    """FORD on every face of an image or video: one Parquet row per face per frame (docs/design.md §2).

    models: loaded models to reuse (then identity_model/detector_model are ignored); else loaded here."""
    from ..edit.stages import analyze_frames
    from ..ford.dataset import RepresentationWriter
    from ..ford.decompose import FaceDecomposer
    from ..ford.draw import FordSheet

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

