"""Editorial batches: an OpenTimelineIO timeline (or a CMX 3600 EDL, through OTIO's adapter) as the items
of `facex batch`, and a timeline of the results for the editor to relink.

Each clip of the timeline is one item: the task's footage is the clip's media file, cut to the clip's source
range (`--frames`: the output is that range as a clip of its own, its audio and timecode cut to it), and the
output is named after the clip. Everything else an item needs (the task, the source face, options) comes
from the batch YAML's top level (`timeline: cut.otio` beside it), or, for a timeline given directly, from
the timeline's metadata under "facex". A source range is in the media's own time: a clip of a file whose
timecode starts at 01:00:00:00 says 01:00:02:00 for its frame 48, so the media's start (the reference's
available range, else the file's timecode) is subtracted.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from ..core.errors import InputError
from ..media.source import open_source
from ..tasks.table import TABLE

TIMELINE_EXTENSIONS = (".otio", ".edl")


def read_timeline(path: Path) -> otio.schema.Timeline:
    """The timeline of an .otio or .edl file; InputError naming it if OTIO cannot read it."""
    try:
        timeline = otio.adapters.read_from_file(str(path))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except Exception as e:  # OTIO's adapters raise their own kinds for every malformed file
        raise InputError(path, f"not a timeline OpenTimelineIO reads ({type(e).__name__}: {e})") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise InputError(path, f"holds a {type(timeline).__name__}, not a timeline")
    return timeline


def timeline_defaults(path: Path) -> dict:
    """The item defaults a timeline given directly carries in its metadata under "facex" (task, source, ...)."""
    timeline = read_timeline(path)  # held: its metadata lives only as long as the timeline does
    facex = timeline.metadata.get("facex", {})
    return {str(k): (dict(v) if hasattr(v, "items") else v) for k, v in facex.items()}


def _media_path(timeline_path: Path, clip: otio.schema.Clip) -> Path:
    ref = clip.media_reference
    url = getattr(ref, "target_url", None)
    if not url:
        raise InputError(timeline_path, f"clip {clip.name!r} has no media file (an EDL needs '* FROM CLIP:' lines)")
    parsed = urlparse(url)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url)
    return path if path.is_absolute() else timeline_path.parent / path


def _frames(timeline_path: Path, clip: otio.schema.Clip, media: Path) -> tuple[int, int]:
    """The clip's source range as frame indices of its media file."""
    source = open_source(media)
    rate = float(source.fps)
    ref = clip.media_reference
    if getattr(ref, "available_range", None) is not None:
        origin = ref.available_range.start_time
    elif source.video is not None and source.video.timecode:
        origin = otio.opentime.from_timecode(source.video.timecode, rate)
    else:
        origin = otio.opentime.RationalTime(0, rate)
    span = clip.source_range if clip.source_range is not None else clip.available_range()
    start = round((span.start_time - origin).to_seconds() * rate)
    count = round(span.duration.to_seconds() * rate)
    if start < 0 or count < 1 or start + count > source.frame_count:
        raise InputError(timeline_path, f"clip {clip.name!r}: its range (frames {start}:{start + count}) is not "
                                        f"within {media.name}'s {source.frame_count} frames")
    return start, start + count


def _name(clip: otio.schema.Clip, index: int, taken: set[str]) -> str:
    """The clip's name as a file name: letters, digits, - _ . kept, the rest _; numbered when taken."""
    name = re.sub(r"[^\w.-]+", "_", clip.name or "").strip("._") or f"clip{index:03d}"
    while name in taken:
        name = f"{name}_{index:03d}"
    taken.add(name)
    return name


def timeline_items(timeline_path: Path, defaults: dict) -> list[dict]:
    """One batch item per clip (in timeline order): `name`, the task's footage cut to `frames`, and `output`
    (`output_dir`, default the timeline's folder, / clip name + the media's extension, or `output_ext`)."""
    task = str(defaults.get("task"))
    if task not in TABLE:
        raise InputError(timeline_path, f"the timeline's items need a task (one of {', '.join(TABLE)}): give "
                                        "'task:' beside 'timeline:' in the batch YAML")
    role = TABLE[task].stream_role
    out_dir = Path(defaults.get("output_dir") or ".")
    items: list[dict] = []
    taken: set[str] = set()
    for k, clip in enumerate(read_timeline(timeline_path).find_clips(), start=1):
        media = _media_path(timeline_path, clip)
        start, stop = _frames(timeline_path, clip, media)
        name = _name(clip, k, taken)
        items.append({"name": name, role: str(media), "frames": f"{start}:{stop}",
                      "output": str(out_dir / f"{name}{defaults.get('output_ext') or media.suffix}")})
    if not items:
        raise InputError(timeline_path, "the timeline holds no clips")
    return items


def write_results(timeline_path: Path, outputs: list[str], dest: Path) -> None:
    """The timeline with each clip pointing at its item's output (`outputs`, in clip order; whole, from the
    output's own start timecode), for the editor to relink; written atomically. A clip whose item failed keeps
    its original media."""
    from ..core.atomic import atomic_path

    timeline = read_timeline(timeline_path)
    clips = timeline.find_clips()
    for clip, output in zip(clips, outputs[:len(clips)], strict=True):
        if not Path(output).exists():
            continue
        result = open_source(output)
        rate = float(result.fps)
        tc = result.video.timecode if result.video is not None else None
        start = otio.opentime.from_timecode(tc, rate) if tc else otio.opentime.RationalTime(0, rate)
        whole = otio.opentime.TimeRange(start, otio.opentime.RationalTime(result.frame_count, rate))
        clip.media_reference = otio.schema.ExternalReference(target_url=str(Path(output).absolute()),
                                                             available_range=whole)
        clip.source_range = whole
    with atomic_path(dest) as temp:
        otio.adapters.write_to_file(timeline, str(temp), adapter_name="otio_json")
