"""Where a video-kind output's frames go: a video file (media/encode.VideoWriter) or an image sequence
(out.%04d.png, out.####.exr) numbered as the input's frames were, at the input's precision, its alpha kept;
whole or not at all, as every output is.

Frames are written into a hidden folder beside the destination and moved into place only when every frame is
there (`publish`): a failed or stopped run leaves no frame at the destination. The sharded job writes each
chunk's frames into its own folder of the work directory and publishes them all at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.atomic import check_writable_dir
from ..core.errors import OutputError
from ._output import WholeOrNothing
from .encode import VideoWriter, output_check
from .formats import Encoding
from .marks import EditMark
from .sequence import (
    SEQUENCE_EXTENSIONS,
    ImageSequence,
    from_working,
    is_sequence_path,
    read_frame,
    sequence_frame_path,
    write_frame,
)
from .source import Source

log = logging.getLogger("facex_video.media")


def sequence_output_check(pattern: str | Path) -> None:
    """OutputError now if the sequence could not be written later (extension, counter, folder)."""
    pattern = Path(pattern)
    if pattern.suffix.lower() not in SEQUENCE_EXTENSIONS or not is_sequence_path(pattern):
        raise OutputError(pattern, "an image sequence needs a frame counter (%04d or ####) and one of "
                                   f"{', '.join(sorted(SEQUENCE_EXTENSIONS))}")
    check_writable_dir(pattern)


def moving_output_check(path: str | Path) -> None:
    """The up-front check of a video-kind output: an image sequence's, else a video file's."""
    (sequence_output_check if is_sequence_path(path) else output_check)(path)


def output_sample(pattern: Path, sequence: ImageSequence | None, deep: bool) -> str:
    """How the output's samples are stored: the input sequence's where the format holds it; else 16-bit PNG/TIFF
    for a deep input (more than 8 bits a sample), 8-bit otherwise, and half floats for EXR."""
    exr = pattern.suffix.lower() == ".exr"
    if sequence is not None and (sequence.sample in ("half", "float")) == exr:
        return sequence.sample
    if exr:
        return "half"
    return "uint16" if deep or (sequence is not None and sequence.deep) else "uint8"


def _alpha_as(alpha: np.ndarray, sample: str) -> np.ndarray:
    """An alpha channel (h, w, 1) in the dtype `sample` is written with (alpha is linear coverage, no curve)."""
    if alpha.dtype == np.uint8:
        unit = alpha.astype(np.float32) / 255.0
    elif alpha.dtype == np.uint16:
        unit = alpha.astype(np.float32) / 65535.0
    else:
        unit = alpha.astype(np.float32)
    if sample == "uint8":
        return np.clip(unit * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if sample == "uint16":
        return np.clip(unit * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    return unit


class SequenceWriter(WholeOrNothing):
    """Writes working RGB frames (media/sequence.to_working's representation) as files of `pattern`, frame
    index i numbered `first_number + i`; with `alpha_from`, each frame takes the alpha of the input frame of
    the same index. `folder`: where the files go (the sharded job's chunk folder, published later); None: a
    hidden folder beside the destination, published by close()."""

    def __init__(self, pattern: str | Path, *, first_number: int, sample: str, start_index: int = 0,
                 alpha_from: ImageSequence | None = None, folder: Path | None = None, mark: EditMark | None = None):
        self.pattern = Path(pattern)
        sequence_output_check(self.pattern)
        self.first_number, self.sample, self.alpha_from = first_number, sample, alpha_from
        self.tags = mark.tags() if mark is not None else None  # in every frame
        self.index = start_index
        self.publish_on_close = folder is None
        self.folder = folder if folder is not None else self.pattern.parent / f".{self.pattern.name}.partial-" \
            f"{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def deep(self) -> bool:
        """Whether frames should come at more than 8 bits (uint16, or float for EXR)."""
        return self.sample != "uint8"

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """The next frame (pts is not needed: files are numbered by index)."""
        out = from_working(frame, self.sample)
        if self.alpha_from is not None:
            alpha = read_frame(self.alpha_from.path(self.index))[..., 3:]
            out = np.concatenate([out, _alpha_as(alpha, self.sample).astype(out.dtype)], axis=-1)
        name = sequence_frame_path(self.pattern, self.first_number + self.index).name
        write_frame(self.folder / name, out, self.sample, self.tags)
        self.index += 1

    def close(self) -> None:
        if self.publish_on_close:
            publish([self.folder], self.pattern)

    def abort(self) -> None:
        if self.publish_on_close:
            shutil.rmtree(self.folder, ignore_errors=True)


def say_audio_dropped(output: Path, source: Source) -> None:
    """One line when a source's audio cannot go where its frames go (an image sequence has none)."""
    if source.video is not None and source.video.audio:
        log.warning("%s: the audio of %s is not carried: an image sequence has none", output, source.path.name)


def publish(folders: list[Path], pattern: Path) -> None:
    """Every frame file of `folders` put beside `pattern`, each by an atomic rename of a hard link (a copy
    across file systems), so the folders stay whole (a kept work directory still holds its chunks); the hidden
    folder a writer made is removed after."""
    pattern = Path(pattern)
    for folder in folders:
        for f in sorted(folder.iterdir()):
            temp = pattern.parent / f".{f.name}.partial-{uuid.uuid4().hex[:8]}"
            try:
                os.link(f, temp)
            except OSError:
                shutil.copy2(f, temp)
            os.replace(temp, pattern.parent / f.name)
        if folder.name.startswith(f".{pattern.name}.partial-"):
            shutil.rmtree(folder)


def frame_writer(output: Path, source: Source, encoding: Encoding, *, dest: Path | None = None, start_index: int = 0,
                 still: tuple[int, int] | None = None, audio: bool = False, deterministic: bool = False,
                 mark: EditMark | None = None) -> VideoWriter | SequenceWriter:
    """The writer of `source`'s frames (from `start_index` on) as `output`: its files (into `dest`, a sharded
    job's chunk folder, when given), or the video `dest` (default: `output` itself). still: the (width, height)
    of a still canvas the frames are made on (reenact), which has no alpha to carry; audio: mux the source's
    audio (a whole video); mark: what the run did, carried by the output (a sharded job's chunks carry none:
    the joined video gets it, media/encode.concat_videos; a sequence's files carry it themselves)."""
    info = source.video
    if info is None:
        raise ValueError(f"{source.path}: an image has no frames to write as a video")
    if is_sequence_path(output):
        # a sequence's frames keep their numbers (a window's too); a video's are numbered from 1
        seq = replace(source.sequence, first=source.sequence.first + source.offset,
                      count=source.frame_count) if source.sequence is not None else None
        if audio:
            say_audio_dropped(output, source)
        return SequenceWriter(output, first_number=seq.first if seq else 1, start_index=start_index, folder=dest,
                              sample=output_sample(output, seq, deep=info.depth > 8),
                              alpha_from=seq if seq is not None and seq.alpha and still is None else None, mark=mark)
    width, height = still or (source.width, source.height)
    return VideoWriter(dest or output, fps=info.fps, width=width, height=height, crf=encoding.crf,
                       preset=encoding.preset, codec=encoding.codec, source=info, time_base=info.time_base,
                       audio_from=source.path if audio and source.sequence is None else None,
                       deterministic=deterministic, mark=mark)
