"""Media I/O: probe, frame-exact streaming decode (checked against the demuxer index), atomic H.264 encode
with audio, images, synthetic clips."""

from .decode import FrameChunk, iter_chunks
from .encode import VideoWriter, output_check
from .image import image_output_check, read_image, write_image
from .probe import AudioStreamInfo, VideoInfo, is_image_path, probe
from .synth import Shot, render_shot_frames, write_clip

__all__ = [
    "AudioStreamInfo",
    "FrameChunk",
    "Shot",
    "VideoInfo",
    "VideoWriter",
    "image_output_check",
    "is_image_path",
    "iter_chunks",
    "output_check",
    "probe",
    "read_image",
    "render_shot_frames",
    "write_clip",
    "write_image",
]
