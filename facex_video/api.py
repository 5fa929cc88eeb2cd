"""Python entry points behind the `facex` commands; each validates outputs first, then streams the input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import check_writable_dir, write_text_atomic
from .errors import OutputError
from .faces.analyze import FaceAnalyzer
from .media import VideoWriter, image_output_check, is_image_path, output_check, write_image
from .preview import ContactSheet, save_sheet
from .video.source import Source, open_source
from .video.stages import TrackingResult, passthrough_frame, sample_indices, track_frames, track_summary

if TYPE_CHECKING:
    from .ford.identity import IdentityEncoder


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
    check_writable_dir(output)
    source = open_source(input)
    sheet = _sheet_for(source, preview)
    result = TrackingResult(source)
    with FaceAnalyzer(detector_model=detector_model) as analyzer:
        for frame in track_frames(source, analyzer, result, progress=progress, desc="tracks"):
            if sheet:
                sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
    summary = track_summary(result)
    write_text_atomic(output, json.dumps(summary, indent=1))
    if sheet:
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
    source = open_source(input)
    if source.is_image != is_image_path(output):
        kind = "an image" if source.is_image else "a video"
        raise OutputError(output, f"input {source.path.name} is {kind}; give an output of the same kind")
    (image_output_check if source.is_image else output_check)(output)
    sheet = _sheet_for(source, preview)
    result = TrackingResult(source)
    with FaceAnalyzer(detector_model=detector_model) as analyzer:
        frames = track_frames(source, analyzer, result, progress=progress, desc="passthrough")
        if source.is_image:
            for frame in frames:
                write_image(output, passthrough_frame(frame))
                if sheet:
                    sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
        else:
            info = source.video
            with VideoWriter(
                output, fps=info.fps, width=info.width, height=info.height, crf=crf, preset=preset,
                time_base=info.time_base, audio_from=source.path,
            ) as writer:
                for frame in frames:
                    writer.write(passthrough_frame(frame), pts=frame.pts)
                    if sheet:
                        sheet.offer(frame.index, frame.rgb, frame.faces, frame.cut)
    if sheet:
        save_sheet(preview, sheet.render(result.final_id))
    return track_summary(result)


@dataclass
class AnalysisModels:
    """The models `analyze` needs, loaded once and reused across inputs (e.g. by a Ray actor)."""

    analyzer: FaceAnalyzer
    encoder: "IdentityEncoder"

    @classmethod
    def load(cls, *, identity_model: str | Path | None = None, detector_model: str | Path | None = None):
        from .ford.identity import load_identity_encoder

        return cls(FaceAnalyzer(detector_model=detector_model), load_identity_encoder(identity_model))


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
    if own:
        models = AnalysisModels.load(identity_model=identity_model, detector_model=detector_model)
    decomposer = FaceDecomposer(encoder=models.encoder)
    writer = RepresentationWriter(output, decomposer.embedding_dim)

    def collect(frame, reps) -> None:
        if sheet:
            sheet.offer(frame.index, source.seconds(frame.pts), frame.rgb, reps)

    try:
        result = analyze_frames(source, models.analyzer, decomposer, writer, with_crops=with_crops,
                                progress=progress, on_frame=collect)
    finally:
        if own:
            models.analyzer.close()
    if sheet:
        save_sheet(preview, sheet.render(result.final_id))
    summary = track_summary(result)
    summary["rows"] = writer.rows
    return summary
