"""The four stages of the sharded video job, as plain functions over files in the work directory:

    analyze_chunk  -> analyze/<chunk>.npz          every tracked face of a chunk (video/plan.py ChunkFaces)
    edit_segment   -> edit/<segment>/              the edited crops, alphas and transforms of one track segment
    compose_chunk  -> compose/<chunk>.mp4          the chunk's frames with its segments pasted, encoded
    concat_chunks  -> the output                   segments joined without re-encoding, source audio muxed

Each writes its result atomically (a temporary renamed into place), so a file that exists is a finished
shard. Only small values cross process boundaries; frames and crops stay on disk (the work directory must be
shared by every node of a cluster), so memory stays bounded however long the video.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np

from ..atomic import partial_path
from ..faces.analyze import FaceAnalyzer
from ..media import VideoWriter
from ..media.encode import concat_videos
from ..render.base import TrackState
from .edit import EditedFace, TaskSpec, edit_face
from .plan import Chunk, ChunkFaces, Segment
from .source import Source
from .stages import TrackingResult, track_frames

SEGMENT_FILES = ("frames", "crops", "alphas", "transforms")


def analyze_chunk(source: Source, chunk: Chunk, analyzer: FaceAnalyzer, dest: Path) -> int:
    """Track every face of frames [lead_start, stop); writes dest (.npz). Returns the number of faces."""
    result = TrackingResult(source)
    pts, faces = {}, {}
    for frame in track_frames(source, analyzer, result, progress=False, start=chunk.lead_start, stop=chunk.stop):
        pts[frame.index] = frame.pts
        if frame.faces:
            faces[frame.index] = frame.faces
    ChunkFaces(chunk, pts, faces, result.shot_starts).save(dest)
    return sum(len(f) for f in faces.values())


def edit_segment(task: TaskSpec, source: Source, faces: ChunkFaces, segment: Segment, neutral: np.ndarray,
                 analyzer: FaceAnalyzer, dest: Path) -> int:
    """Render one track segment in frame order (the lead frames warm the track's state and are not kept);
    writes the folder dest with one .npy per SEGMENT_FILES. Returns the number of frames kept."""
    state = TrackState(segment.track, seed=segment.track)
    canvas_still = task.stills.get(task.components["background"])
    kept: list[tuple[int, EditedFace]] = []
    for index, rgb, pts in source.frames(start=segment.lead_start, stop=segment.stop):
        face = next((f for f in faces.faces.get(index, []) if f.track_id == segment.local_id), None)
        if face is None:
            continue
        edited = edit_face(task, source, rgb, pts, face, final=segment.track, neutral=neutral, state=state,
                           analyzer=analyzer, canvas_rgb=canvas_still.rgb if canvas_still is not None else rgb)
        if index >= segment.start:
            kept.append((index, edited))
    temp = partial_path(dest)
    temp.mkdir(parents=True)
    try:
        arrays = {"frames": np.array([i for i, _ in kept], np.int64),
                  "crops": np.stack([e.crop for _, e in kept]),
                  "alphas": np.stack([e.alpha for _, e in kept]).astype(np.float32),
                  "transforms": np.stack([e.transform for _, e in kept]).astype(np.float64)}
        for name in SEGMENT_FILES:
            np.save(temp / f"{name}.npy", arrays[name])
        temp.replace(dest)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return len(kept)


class _SegmentReader:
    """One finished segment, memory-mapped: pages in only the crops of the frame being composed."""

    def __init__(self, folder: Path):
        self.arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in SEGMENT_FILES}
        self.row = {int(i): k for k, i in enumerate(self.arrays["frames"])}

    def paste(self, index: int, frame: np.ndarray) -> None:
        k = self.row.get(index)
        if k is not None:
            a = self.arrays
            EditedFace(np.asarray(a["crops"][k]), np.asarray(a["alphas"][k]), np.asarray(a["transforms"][k])).paste(frame)


def compose_chunk(source: Source, chunk: Chunk, segments: list[Path], dest: Path, *, canvas: np.ndarray | None,
                  crf: int, preset: str, previews: dict[int, Path] | None = None) -> list[str]:
    """The chunk's output frames: the canvas (the frame itself, or a still for reenact) with every segment's
    crops pasted in track order, encoded to dest (H.264, the source's timestamps, no audio). previews:
    frame index -> .npz path where that frame's (input, result) pair is kept for the contact sheet.

    Returns each composed frame's digest (blake2b of its RGB bytes), kept in the job manifest: the exact
    pixels the job made, comparable across runners and reruns even though x264 itself does not always give
    the same bitstream for the same frames (measured: single-threaded, 3 different files in 4 encodes)."""
    readers = [_SegmentReader(p) for p in segments]
    height, width = canvas.shape[:2] if canvas is not None else (source.height, source.width)
    info = source.video
    digests = []
    with VideoWriter(dest, fps=info.fps, width=width, height=height, crf=crf, preset=preset,
                     time_base=info.time_base, deterministic=True) as writer:
        for index, rgb, pts in source.frames(start=chunk.start, stop=chunk.stop):
            out = (canvas if canvas is not None else rgb).copy()
            for reader in readers:
                reader.paste(index, out)
            writer.write(out, pts=pts)
            digests.append(hashlib.blake2b(out.tobytes(), digest_size=16).hexdigest())
            if previews and index in previews:
                temp = partial_path(previews[index])
                with open(temp, "wb") as f:
                    np.savez(f, before=rgb, after=out)
                temp.replace(previews[index])
    return digests


def concat_chunks(source: Source, chunks: list[Path], output: Path) -> None:
    """The composed chunks joined in order without re-encoding, with the source's audio; atomic."""
    concat_videos(chunks, output, fps=source.fps, audio_from=source.path)
