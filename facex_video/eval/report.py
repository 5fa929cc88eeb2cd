"""`facex eval`: every metric of eval/metrics.py on one task's result, each against the input that the task's
recipe (tasks/table.py) says the component must come from.

So a swap's identity is scored against the source and its pose, expression and gaze against the target; a
reenactment's pose against the driving frame; an edit's pose and gaze against the target's plus the asked change
(`edits`), so a yaw +10 that reads back +9.6 scores 0.4 degrees. The canvas (the input the result is composed onto)
is the reference for landmarks and for PSNR / SSIM outside the head. A video result is measured on sampled frames
(means over the frames where both faces are found), plus flicker of the result and of the footage it was made from
(the same measure, so their ratio is what the edit added) and track purity across the footage's shot cuts.

Pose and gaze are graded twice: by MediaPipe (FORD's own analysis, the rows without a grader in their name) and
by graders that share no model with the renderer, which is steered by MediaPipe: "(dlib+PnP)" (eval/head_pose.py)
and "(dlib+iris)" (eval/gaze_image.py), plus how far the two pose graders disagree on the change they measure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..edit.stages import TrackingResult, sample_indices, track_frames
from ..faces.align import alignment_matrix, crop_face
from ..faces.analyze import FaceAnalyzer
from ..faces.types import TrackedFace
from ..ford.decompose import represent_face
from ..ford.identity import DLIB_SAME_PERSON, IdentityEncoder, load_identity_encoder
from ..ford.representation import FacialRepresentation, Identity
from ..media.source import Source, open_source
from ..tasks.assemble import Edits
from ..tasks.table import TABLE
from . import gaze_image, head_pose, metrics

SAMPLED_FRAMES = 8  # frames of a video result that get the per-image metrics (identity takes ~0.1 s a face)


@dataclass
class Metric:
    """One measured number, with what it compares and how to read it."""

    name: str
    value: float
    note: str


def _rep(rgb: np.ndarray, analyzer: FaceAnalyzer, what: str) -> FacialRepresentation:
    """FORD of the largest face of an image (identity left empty: the metrics embed faces themselves)."""
    face = metrics.largest_face(rgb, analyzer, what)
    identity = Identity(np.zeros(0, np.float32), "", np.zeros((0, 3), np.float32))
    return represent_face(rgb, TrackedFace(0, 0, face, face.landmarks), source=what, timestamp=0.0, identity=identity)


def _edit_errors(ref: FacialRepresentation, out: FacialRepresentation, edits: Edits) -> tuple[float, float]:
    """Pose error (worst axis) and gaze error (larger of yaw, pitch) of `out` against `ref` plus the edit."""
    asked_pose = np.array([edits.yaw, edits.pitch, edits.roll])
    asked_gaze = np.array(edits.gaze if edits.gaze is not None else (0.0, 0.0))
    return (float(np.abs(metrics.pose_delta(ref, out) - asked_pose).max()),
            float(np.abs(metrics.gaze_delta(ref, out) - asked_gaze).max()))


def _pnp_pose_rows(ref_rgb: np.ndarray, ref: FacialRepresentation, result: np.ndarray, out: FacialRepresentation,
                   label: str, edits: Edits | None) -> list[Metric]:
    """The pose error by dlib+PnP (eval/head_pose.py, no model shared with the renderer) beside MediaPipe's, and how
    far the two graders' readings of the pose change disagree (worst axis)."""
    asked = np.array([edits.yaw, edits.pitch, edits.roll]) if edits is not None else np.zeros(3)
    try:
        change = head_pose.pose_difference(head_pose.pnp_head_pose(ref_rgb, ref.box),
                                           head_pose.pnp_head_pose(result, out.box))
    except ValueError:
        change = np.full(3, np.nan)
    suffix = " + edit" if edits is not None else ""
    return [
        Metric(f"pose error vs {label}{suffix} (dlib+PnP)", float(np.abs(change - asked).max()),
               "degrees, worst of yaw/pitch/roll; dlib 68 points + solvePnP on a generic 3D head"),
        Metric(f"pose change vs {label}: MediaPipe vs dlib+PnP",
               float(np.abs(metrics.pose_delta(ref, out) - change).max()),
               "degrees, worst axis: how far the two pose graders disagree on the change"),
    ]


def _image_gaze_row(ref_rgb: np.ndarray, ref: FacialRepresentation, result: np.ndarray, out: FacialRepresentation,
                    label: str, edits: Edits | None, fixed_eyes: bool) -> Metric:
    """The gaze error by the image grader (eval/gaze_image.py: dlib's eye contour, the iris found in the image,
    an anatomical eyeball), NaN when no eye reads in both images."""
    asked = np.array(edits.gaze if edits is not None and edits.gaze is not None else (0.0, 0.0))
    change = gaze_image.gaze_change(ref_rgb, result, ref.box, after_box=None if fixed_eyes else out.box,
                                    fixed_eyes=fixed_eyes)
    suffix = " + edit" if edits is not None else ""
    return Metric(f"gaze error vs {label}{suffix} (dlib+iris)",
                  float(np.abs(np.array([change.yaw, change.pitch]) - asked).max()),
                  "degrees, worst of yaw/pitch change; dlib eye contour + iris found in the image; nan = no eye read")


def image_metrics(
    result: np.ndarray, inputs: dict[str, np.ndarray], components: dict[str, str], *, analyzer: FaceAnalyzer,
    encoder: IdentityEncoder, labels: dict[str, str] | None = None, edits: Edits | None = None,
) -> list[Metric]:
    """The per-image metrics of a result whose inputs are `inputs` (role -> RGB), by the task's recipe
    `components` (component -> role). labels: how to name a role in the output (default: the role).
    edits: the change an edit asked for; pose and gaze are then scored against the input plus it."""
    names = labels or {}

    def name(role: str) -> str:
        return names.get(role, role)

    canvas_role = components["background"]
    canvas = inputs[canvas_role]
    if result.shape != canvas.shape:
        raise ValueError(f"the result is {result.shape[1]}x{result.shape[0]} but the {name(canvas_role)} it is "
                         f"composed onto is {canvas.shape[1]}x{canvas.shape[0]}")
    reps = {role: _rep(rgb, analyzer, name(role)) for role, rgb in inputs.items()}
    out_rep = _rep(result, analyzer, "result")
    out: list[Metric] = []
    id_roles = [components["identity"]] + ([canvas_role] if canvas_role != components["identity"] else [])
    distances = {}
    for role in id_roles:
        dist, sim = metrics.identity_scores(result, inputs[role], analyzer=analyzer, encoder=encoder)
        distances[role] = dist
        out.append(Metric(f"identity distance to {name(role)}", dist, f"{encoder.name}; lower is closer"
                          + ("; the same person below 0.6" if encoder.name.startswith("dlib") else "")))
        out.append(Metric(f"identity similarity to {name(role)}", sim, "cosine of the embeddings; 1 = same"))
    if len(id_roles) == 2 and encoder.name.startswith("dlib"):
        # a swap can be nearer its donor and still read as the person it replaced: say both
        donor, replaced = (distances[r] for r in id_roles)
        out.append(Metric(f"identity margin ({name(canvas_role)} - {name(id_roles[0])})", replaced - donor,
                          f"{encoder.name} distances; above 0: nearer the donor"))
        out.append(Metric(f"still reads as the {name(canvas_role)}", float(replaced < DLIB_SAME_PERSON),
                          f"1 when the distance to it is under dlib's {DLIB_SAME_PERSON} (a video: the share of "
                          "sampled frames)"))
    box = reps[canvas_role].box
    out.append(Metric(f"landmark NME vs {name(canvas_role)}", metrics.landmark_nme(result, canvas, box),
                      "dlib 68 points / inter-ocular distance"))
    edited = _edit_errors(reps[components["pose"]], out_rep, edits) if edits is not None else None
    for component, error, unit in (("pose", metrics.pose_error, "degrees, worst of yaw/pitch/roll (MediaPipe)"),
                                   ("expression", metrics.expression_error, "mean |blendshape difference|, 0-1"),
                                   ("gaze", metrics.gaze_error, "degrees between gaze directions (MediaPipe)")):
        role = components[component]
        if edited is not None and component != "expression":
            value = edited[0 if component == "pose" else 1]
            out.append(Metric(f"{component} error vs {name(role)} + edit", value, "degrees, worst axis (MediaPipe)"))
        else:
            out.append(Metric(f"{component} error vs {name(role)}", error(reps[role], out_rep), unit))
        if component == "pose":
            out += _pnp_pose_rows(inputs[role], reps[role], result, out_rep, name(role), edits)
        elif component == "gaze":
            # the same eye contours in both images where the face stays put: an edit of the canvas's face
            # that does not move the head
            still = edits is not None and role == canvas_role and edits.yaw == edits.pitch == edits.roll == 0
            out.append(_image_gaze_row(inputs[role], reps[role], result, out_rep, name(role), edits, still))
    env = reps[canvas_role].environment
    region = metrics.head_region(env.masks, env.crop_transform, canvas.shape)
    if (~region).any():
        out.append(Metric(f"PSNR outside the head vs {name(canvas_role)}", metrics.psnr_outside(result, canvas, region),
                          "dB; inf = untouched"))
        out.append(Metric(f"SSIM outside the head vs {name(canvas_role)}", metrics.ssim_outside(result, canvas, region),
                          "1 = untouched"))
    return out


def _temporal_pass(source: Source, analyzer: FaceAnalyzer, keep: set[int]) -> tuple[float, TrackingResult, dict]:
    """Track every face of a video once: flicker (mean crop change between consecutive frames of a track),
    the tracking result, and the frames whose index is in `keep`."""
    result, changes, kept = TrackingResult(source), [], {}
    previous: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (frame index, aligned crop)
    for frame in track_frames(source, analyzer, result, progress=False, desc="eval"):
        if frame.index in keep:
            kept[frame.index] = frame.rgb
        current = {}
        for face in frame.faces:
            crop = crop_face(frame.rgb, alignment_matrix(face.five_points()))
            before = previous.get(face.track_id)
            if before is not None and before[0] == frame.index - 1:
                changes.append(metrics.crop_change(before[1], crop))
            current[face.track_id] = (frame.index, crop)
        previous = current
    return (float(np.mean(changes)) if changes else float("nan")), result, kept


def _mean_metrics(per_frame: list[list[Metric]]) -> list[Metric]:
    """Means over frames, by name, in the first frame's order, NaN values left out; the note says over how many
    frames."""
    names = [m.name for m in per_frame[0]]
    out = []
    for name in names:
        values = [m.value for frame in per_frame for m in frame if m.name == name]
        finite = [v for v in values if not np.isnan(v)]  # an independent grader may read no eye in a frame
        note = next(m.note for m in per_frame[0] if m.name == name)
        mean = float(np.mean(finite)) if finite else float("nan")
        out.append(Metric(name, mean, f"{note}; mean of {len(finite)} frames"))
    return out


def evaluate(
    task: str,
    result: str | Path,
    *,
    source: str | Path | None = None,
    target: str | Path | None = None,
    driving: str | Path | None = None,
    take: dict[str, str] | None = None,
    edits: Edits | None = None,
    identity_model: str | Path | None = None,
    detector_model: str | Path | None = None,
    frames: int = SAMPLED_FRAMES,
) -> list[Metric]:
    """Every metric of a task's result (image or video) against its inputs; see the module docstring."""
    paths = {role: Path(p) for role, p in (("source", source), ("target", target), ("driving", driving)) if p}
    the_task = TABLE[task]
    if the_task.takes_components:
        if target is None:
            raise InputError(result, "eval of mix needs --target")
        roles = {c: "target" if Path(p) == Path(target) else str(p) for c, p in (take or {}).items()}
        try:
            components = the_task.components(roles)
        except ValueError as err:
            raise InputError(result, str(err)) from None
        paths.update({r: Path(r) for r in roles.values() if r != "target"})
    else:
        components = the_task.components()
    missing = sorted({r for r in components.values()} - set(paths))
    if missing:
        raise InputError(result, f"eval of {task} needs " + ", ".join(f"--{r}" for r in missing))
    labels = {role: role if role in ("source", "target", "driving") else Path(role).name for role in paths}
    stream_role = the_task.stream_role
    sources = {role: open_source(p) for role, p in paths.items() if role in components.values()}
    out_source = open_source(result)
    stills = {role: next(s.frames())[1] for role, s in sources.items() if role != stream_role or s.is_image}
    encoder = load_identity_encoder(identity_model)
    with FaceAnalyzer(detector_model=detector_model) as analyzer:
        if out_source.is_image:
            if not sources[stream_role].is_image:
                raise InputError(result, f"the result is an image but the {stream_role} is a video")
            try:
                return image_metrics(next(out_source.frames())[1], stills, components, analyzer=analyzer,
                                     encoder=encoder, labels=labels, edits=edits)
            except ValueError as err:
                raise InputError(result, str(err)) from None
        stream = sources[stream_role]
        if stream.is_image or stream.frame_count != out_source.frame_count:
            raise InputError(result, f"the result has {out_source.frame_count} frames but the {stream_role} "
                                     f"{stream.path.name} has {stream.frame_count}: give the footage it was made from")
        keep = set(sample_indices(out_source.frame_count, frames))
        out_flicker, out_tracking, out_frames = _temporal_pass(out_source, analyzer, keep)
        in_flicker, in_tracking, in_frames = _temporal_pass(stream, analyzer, keep)
        per_frame = []
        for index in sorted(keep):
            try:
                per_frame.append(image_metrics(out_frames[index], {**stills, stream_role: in_frames[index]},
                                               components, analyzer=analyzer, encoder=encoder, labels=labels,
                                               edits=edits))
            except ValueError:
                continue  # a sampled frame without a face (in the result or an input) has nothing to score
    out = _mean_metrics(per_frame) if per_frame else []
    out.append(Metric("flicker of the result", out_flicker, "grey levels between consecutive aligned face crops"))
    out.append(Metric(f"flicker of the {stream_role}", in_flicker, "the same measure on the input footage"))
    tracks = [t.frames for t in out_tracking.tracks]
    if tracks:
        out.append(Metric(f"track purity across the {stream_role}'s cuts",
                          metrics.track_purity(tracks, in_tracking.shot_starts),
                          f"share of face-frames in their track's shot; {len(in_tracking.shot_starts)} shot(s)"))
    return out


def format_metrics(rows: list[Metric]) -> str:
    """Aligned `name  value  note` lines for the terminal."""
    width = max(len(m.name) for m in rows)
    return "\n".join(f"{m.name:<{width}}  {m.value:8.4f}  {m.note}" for m in rows)
