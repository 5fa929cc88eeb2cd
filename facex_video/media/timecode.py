"""SMPTE timecode arithmetic, by OpenTimelineIO's opentime (which editors' tools share): a window of a clip
starts at the clip's timecode plus the frames before it."""

from __future__ import annotations

from fractions import Fraction

from opentimelineio import opentime


def shift_timecode(timecode: str | None, frames: int, fps: Fraction) -> str | None:
    """`timecode` moved on by `frames` at `fps` (drop-frame stays drop-frame: 01:00:00;00 style); None stays
    None."""
    if timecode is None or frames == 0:
        return timecode
    rate = float(fps)
    start = opentime.from_timecode(timecode, rate)
    return opentime.to_timecode(start + opentime.RationalTime(frames, rate), rate, drop_frame=";" in timecode)
