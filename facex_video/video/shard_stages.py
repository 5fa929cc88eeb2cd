"""The four stages of the sharded video job, as plain functions over files in the work directory:

    track_chunk  -> analyze/<chunk>.npz          every tracked face of a chunk (video/plan.py ChunkFaces)
    edit_segment   -> edit/<segment>/              the edited crops, alphas and transforms of one track segment
    compose_chunk  -> compose/<chunk>.mp4          the chunk's frames with its segments pasted, encoded
    concat_chunks  -> the output                   segments joined without re-encoding, source audio muxed

Each writes its result atomically (a temporary renamed into place), so a file that exists is a finished
shard. Only small values cross process boundaries; frames and crops stay on disk (the work directory must be
shared by every node of a cluster), so memory stays bounded however long the video.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from ..core.atomic import atomic_path, naming_full_disk, partial_path
from ..edit.face_edit import EditedFace, LoadedTask, TrackEdit, edit_face
from ..edit.stages import TrackingResult, track_frames
from ..faces.analyze import FaceAnalyzer
from ..faces.watermark import Stamp
from ..media.encode import concat_videos
from ..media.formats import Encoding
from ..media.marks import EditMark
from ..media.sequence import is_sequence_path
from ..media.source import Source, narrow, widen
from ..media.writers import frame_writer, publish, say_audio_dropped
from .plan import Chunk, ChunkFaces, Segment

SEGMENT_FILES = ("frames", "crops", "alphas", "transforms", "marks")

T = TypeVar("T")


class Halted(Exception):
    """A shard left between two frames because its run is ending (the user stopped it, or the runner is
    unwinding); what it wrote is removed as any failed shard's is, and a rerun does it again."""


def until_halted(halt: threading.Event | None, frames: Iterable[T]) -> Iterator[T]:
    """`frames`, one at a time, ending in Halted at the first frame after `halt` is set: a run stopped
    while shards are running on other threads ends within a frame, not once their chunks are done."""
    iterator = iter(frames)
    try:
        for frame in iterator:
            if halt is not None and halt.is_set():
                raise Halted("the run is stopping")
            yield frame
    finally:  # the decoder behind `frames` is let go now, not when the halted shard's traceback is
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def track_chunk(source: Source, chunk: Chunk, analyzer: FaceAnalyzer, dest: Path,
                halt: threading.Event | None = None) -> int:
    """Track every face of frames [lead_start, stop); writes dest (.npz). Returns the number of faces."""
    result = TrackingResult(source)
    pts, faces = {}, {}
    for frame in until_halted(halt, track_frames(source, analyzer, result, progress=False, start=chunk.lead_start,
                                                 stop=chunk.stop)):
        pts[frame.index] = frame.pts
        if frame.faces:
            faces[frame.index] = frame.faces
    ChunkFaces(chunk, pts, faces, result.shot_starts).save(dest)
    return sum(len(f) for f in faces.values())


_READ_HEADER = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class _RowFile:
    """One .npy file of a segment, read or written a row (one face of one frame) at a time through plain
    file I/O: rows pass through the page cache, never into this process's resident memory as a memory map's
    touched pages do (a segment of a 4 s chunk is ~90 MB of crops and alphas per face at 25 fps)."""

    def __init__(self, file: BinaryIO, shape: tuple[int, ...], dtype: np.dtype):
        self.file, self.shape, self.dtype = file, shape, dtype
        self.offset = file.tell()
        self.row_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self.written = 0

    @classmethod
    def create(cls, path: Path, count: int, like: np.ndarray) -> _RowFile:
        """A new file for `count` rows shaped and typed like `like`."""
        file = open(path, "wb")  # noqa: SIM115 (kept open while rows are appended; closed by close())
        np.lib.format.write_array_header_2_0(file, {"descr": np.lib.format.dtype_to_descr(like.dtype),
                                                    "fortran_order": False, "shape": (count, *like.shape)})
        return cls(file, like.shape, like.dtype)

    @classmethod
    def open(cls, path: Path) -> _RowFile:
        file = open(path, "rb")  # noqa: SIM115 (kept open while rows are read; closed by close())
        shape, _, dtype = _READ_HEADER[np.lib.format.read_magic(file)](file)
        return cls(file, shape[1:], dtype)

    def append(self, row: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(row, self.dtype).tobytes())
        self.written += 1

    def read(self, k: int) -> np.ndarray:
        self.file.seek(self.offset + k * self.row_bytes)
        return np.frombuffer(self.file.read(self.row_bytes), self.dtype).reshape(self.shape)

    def close(self) -> None:
        self.file.close()


def _kept_count(faces: ChunkFaces, segment: Segment) -> int:
    """How many output frames of the segment hold its face: the rows edit_segment writes."""
    return sum(any(f.track_id == segment.local_id for f in faces.faces.get(i, []))
               for i in range(segment.start, segment.stop))


def edit_segment(task: LoadedTask, source: Source, faces: ChunkFaces, segment: Segment, neutral: np.ndarray,
                 dest: Path, halt: threading.Event | None = None) -> int:
    """Render one track segment in frame order (the lead frames warm the track's state and are not kept);
    writes the folder dest with one .npy per SEGMENT_FILES, each face appended as it is rendered (memory
    holds one face, not the segment). Returns the number of frames kept."""
    track = TrackEdit.start(segment.track)
    count = _kept_count(faces, segment)
    temp = partial_path(dest)
    temp.mkdir(parents=True)
    files: dict[str, _RowFile] = {}
    try:
        with naming_full_disk(dest):  # a full disk names the segment, not a bare errno
            for index, rgb, pts in until_halted(halt, source.frames(start=segment.lead_start, stop=segment.stop)):
                face = next((f for f in faces.faces.get(index, []) if f.track_id == segment.local_id), None)
                if face is None:
                    continue
                edited = edit_face(task, source, rgb, pts, face, final=segment.track, neutral=neutral, track=track)
                if index >= segment.start:
                    row = {"frames": np.int64(index), "crops": edited.crop, "alphas": edited.alpha.astype(np.float32),
                           "transforms": edited.transform.astype(np.float64),
                           "marks": edited.mark.to_row() if edited.mark else np.zeros(7)}
                    for name in SEGMENT_FILES:
                        if name not in files:  # created on the first face: its arrays give the row shapes
                            files[name] = _RowFile.create(temp / f"{name}.npy", count, np.asarray(row[name]))
                        files[name].append(np.asarray(row[name]))
            if len(files) != len(SEGMENT_FILES) or any(f.written != count for f in files.values()):
                raise RuntimeError(f"segment {segment.name}: expected {count} edited frames")  # the headers say so
            for f in files.values():
                f.close()
            temp.replace(dest)
    except BaseException:
        for f in files.values():
            with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
                f.close()
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return count


class _SegmentReader:
    """One finished segment: reads only the crop of the frame being composed, from the file."""

    def __init__(self, folder: Path):
        self.files = {name: _RowFile.open(folder / f"{name}.npy") for name in SEGMENT_FILES if name != "frames"}
        self.row = {int(i): k for k, i in enumerate(np.load(folder / "frames.npy"))}

    def paste(self, index: int, frame: np.ndarray) -> None:
        k = self.row.get(index)
        if k is not None:
            f = self.files
            EditedFace(f["crops"].read(k), f["alphas"].read(k), f["transforms"].read(k),
                       Stamp.from_row(f["marks"].read(k))).paste(frame)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def compose_chunk(source: Source, chunk: Chunk, segments: list[Path], dest: Path, *, canvas: np.ndarray | None,
                  encoding: Encoding, output: Path, previews: dict[int, Path] | None = None,
                  single_thread: bool = True, mark: EditMark | None = None,
                  halt: threading.Event | None = None) -> list[str]:
    """The chunk's output frames: the canvas (the frame itself, or a still for reenact) with every segment's
    crops pasted in track order, encoded to dest (the input's coding unless `encoding` says otherwise, the
    source's timestamps, no audio), or, for an image sequence `output`, as its frame files in the folder
    `dest` (published by concat_chunks). A coding deeper than 8 bits composes on 16-bit frames (an EXR
    sequence on its float ones), so the plate keeps its precision outside the faces. previews: frame index ->
    .npz path where that frame's (input, result) pair (8-bit) is kept for the contact sheet.

    Returns each composed frame's digest (frame_digest of its RGB bytes), kept in the job manifest: the exact
    pixels the job made, comparable across runners and reruns even though x264 itself does not always give
    the same bitstream for the same frames (measured: single-threaded, 3 different files in 4 encodes).
    single_thread: one x264 thread, for runners that compose several chunks at once (Ray: the parallelism is
    across chunks); in one process composing chunk after chunk, x264's own threads use the other cores
    (measured on 2 cores: 31 -> 14.6 ms a 720p frame)."""
    readers = [_SegmentReader(p) for p in segments]
    try:
        return _compose(source, chunk, readers, dest, canvas=canvas, encoding=encoding, output=output,
                        previews=previews, single_thread=single_thread, mark=mark, halt=halt)
    finally:
        for reader in readers:
            reader.close()


def _compose(source: Source, chunk: Chunk, readers: list[_SegmentReader], dest: Path, *,
             canvas: np.ndarray | None, encoding: Encoding, output: Path, previews: dict[int, Path] | None,
             single_thread: bool, mark: EditMark | None, halt: threading.Event | None) -> list[str]:
    info = source.video
    if info is None:
        raise ValueError(f"{source.path}: compose needs a video source")
    digests = []
    still_size = (canvas.shape[1], canvas.shape[0]) if canvas is not None else None
    with frame_writer(output, source, encoding, dest=dest, start_index=chunk.start, still=still_size,
                      deterministic=single_thread, mark=mark) as writer:
        deep = writer.deep
        still = None if canvas is None else widen(canvas) if deep else canvas
        for index, rgb, pts in until_halted(halt, source.frames(start=chunk.start, stop=chunk.stop, deep=deep)):
            preview = previews.get(index) if previews else None
            # the decoder's array is this frame's own: pasted into directly unless the preview keeps it
            out = still.copy() if still is not None else rgb.copy() if preview is not None else rgb
            for reader in readers:
                reader.paste(index, out)
            writer.write(out, pts=pts)
            digests.append(frame_digest(out))
            if preview is not None:
                with atomic_path(preview) as temp, open(temp, "wb") as f:
                    np.savez(f, before=narrow(rgb), after=narrow(out))
    return digests


def frame_digest(frame: np.ndarray) -> str:
    """32 hex digits of SHA-256 over a frame's bytes, read in place: with the CPU's SHA instructions 1.5 ms
    a 720p frame, against 3.2 for blake2b over a copy (measured here)."""
    return hashlib.sha256(np.ascontiguousarray(frame).data).hexdigest()[:32]


def concat_chunks(source: Source, chunks: list[Path], output: Path, mark: EditMark | None = None) -> None:
    """The composed chunks joined in order without re-encoding, with the source's audio and the edit `mark`;
    atomic. An image sequence's chunk folders (their files marked already) are published as its files."""
    if is_sequence_path(output):
        say_audio_dropped(output, source)
        publish(chunks, output)
        return
    concat_videos(chunks, output, fps=source.fps, audio_from=source.path if source.sequence is None else None,
                  timecode=source.video.timecode if source.video is not None else None, span=source.span,
                  mark=mark)
