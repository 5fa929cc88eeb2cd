"""What covers a face in its aligned crop, read from the crop, its landmarks and FORD's region masks
(regions.py), where those masks fall short (docs/design.md §2):
- glasses: the occluder mask finds only the ends of the frames (it never looks near the eyes and brows);
- bangs: hair the hair mask leaves to the face when hair and skin colours overlap;
- rim shadows: the shadow along a jaw or cheek, which the occluder test takes for an object;
- rim debris: what the rim of a mesh lies over that is not skin (sideburns, an ear, background).

`Cover` gathers them for a face. The geometric renderer fills what covers a texture's face before warping
it, and keeps what covers the canvas face in front of the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.constants import CROP_SIZE
from ..faces.blend import dilate, erode, window
from .gaze import LEFT_EYE, RIGHT_EYE
from .mesh import REGION_CONTOURS
from .regions import SKIN_COLOUR_CHI2, SkinColour, disc, forehead_band, grown_parts, touching

GLASSES_BAND = (1.35, 0.95, 0.15)  # eye-centred ellipse: semi-axes and downward shift, in eye widths
BLACKHAT_RADIUS = 5  # px: the black-hat's disc, wider than glasses' frames
RIM_CONTRAST = 14  # black-hat (8-bit L) above which a thin structure is darker than the skin around it
BANGS_DARKER = 12.0  # 8-bit L below the skin's mean lightness that a bangs pixel must be
RIM_BAND = 0.15  # of the mesh's radius: the rim of a texture's mesh, where it may lie past the face
RIM_SHADOW_PX = 10  # px: an occluder blob never deeper than this inside the oval is the outline's shadow
RIM_LENGTH = 0.5  # eye widths: rim pieces are long, wrinkle pieces mostly shorter


def _parts(masks: dict[str, np.ndarray]) -> np.ndarray:
    """The face parts: eyes, brows, lips and mouth interior."""
    return masks["eyes"] | masks["brows"] | masks["lips"] | masks["mouth_interior"]


def glasses(crop: np.ndarray, landmarks: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """bool (512, 512): the frames of glasses, when FORD's occluder mask says there are some.

    The occluder mask rejects non-skin colours but never looks near the eyes and brows, and light frames
    (tortoiseshell, amber) have nearly a skin hue: it finds the ends of the frames only. Around the eyes
    the frames are thin and darker than the skin on both sides, which a morphological black-hat of the
    lightness finds whatever their hue; long pieces are kept (frames run across the face), pieces lying
    mostly on a brow are not. Only when the occluder mask already reaches into the eye band: eyelid creases
    and wrinkles pass the same test on faces without glasses."""
    ellipses = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    widths = []
    for name, (a, b, _, _) in (("right_eye", RIGHT_EYE), ("left_eye", LEFT_EYE)):
        w = float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]))
        c = landmarks[list(REGION_CONTOURS[name]), :2].mean(axis=0) + [0.0, GLASSES_BAND[2] * w]
        cv2.ellipse(ellipses, (int(round(c[0])), int(round(c[1]))),
                    (int(GLASSES_BAND[0] * w), int(GLASSES_BAND[1] * w)), 0, 0, 360, 1, -1)
        widths.append(w)
    w = float(np.mean(widths))
    out = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    box = window(ellipses, 2 * BLACKHAT_RADIUS)  # the black-hat's closing: a dilation, then an erosion
    if box is None:
        return out
    band = ellipses.astype(bool)
    band[box] &= ~dilate(masks["eyes"][box], 3)
    boxed = band[box]
    if (masks["occluder"][box] & boxed).sum() < 0.05 * w * w:
        return out
    lab = cv2.cvtColor(crop[box], cv2.COLOR_RGB2Lab)
    contrast = cv2.morphologyEx(lab[..., 0], cv2.MORPH_BLACKHAT, disc(2 * BLACKHAT_RADIUS + 1))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(((contrast > RIM_CONTRAST) & boxed).astype(np.uint8),
                                                           connectivity=8)
    on_brow = np.bincount(labels[masks["brows"][box]], minlength=n)[1:]
    long = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) >= RIM_LENGTH * w
    rims = np.isin(labels, np.flatnonzero(long & (on_brow < 0.5 * stats[1:, cv2.CC_STAT_AREA])) + 1)
    # hysteresis: fainter stretches of the same frames, and the highlights glinting on them
    near = dilate(rims, 4) & boxed
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    weak = (contrast > 0.7 * RIM_CONTRAST) | ((lab[..., 0] > _skin_light(crop, masks["skin"])) & (chroma < 12))
    out[box] = touching(weak & near | rims, rims)
    # the occluder blobs reaching into the band are the frames' ends and temples
    return out | touching(masks["occluder"], band)


def _skin_light(crop: np.ndarray, skin: np.ndarray) -> float:
    """The skin's 90th-percentile 8-bit lightness (255 without skin), converting the skin's box only."""
    box = window(skin)
    if box is None:
        return 255.0
    return float(np.percentile(cv2.cvtColor(crop[box], cv2.COLOR_RGB2Lab)[..., 0][skin[box]], 90))


def bangs(crop: np.ndarray, landmarks: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """bool (512, 512): hair hanging into the face oval from above, which FORD's hair mask may leave to the
    face (its GrabCut stops at the oval's forehead band when hair and skin colours overlap): pixels of the
    oval above the brows that this face's skin-colour model rejects and that are darker than its skin (a
    lit forehead is often paler or shinier than the cheeks the model saw, never darker by that much), in
    blobs reaching the oval's top. Blond bangs as light as the skin are missed."""
    lm = np.asarray(landmarks, np.float64)
    out = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    band = forehead_band(lm, masks["face_oval"])
    box = window(band, 4)  # erode(band, 4) and the opening by disc(5) reach 4 px
    if box is None:
        return out
    skin = SkinColour.fit(crop, lm, grown_parts(_parts(masks)))
    if skin is None:
        return out
    band = band[box]
    distance, lightness = skin.colour_distance(crop[box])
    odd = (distance > SKIN_COLOUR_CHI2) & (lightness.astype(np.float32) < skin.colour_mean[0] - BANGS_DARKER) & band
    odd = cv2.morphologyEx(odd.astype(np.uint8), cv2.MORPH_OPEN, disc(5)) > 0
    top = band & ~erode(band, 4)
    top[max(0, int(lm[10, 1]) + 20 - box[0].start):] = False  # the band's upper rim, not its sides
    out[box] = touching(odd, top)
    return out


def rim_shadows(occluder: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """bool (512, 512): the occluder mask's blobs that never reach more than RIM_SHADOW_PX inside the face
    oval: the shadow under a jaw or beside a cheek, which the occluder test (not skin-coloured) takes for
    an object. Kept in front of a swapped face, the target's jaw shadow drew a dark line across the new
    chin; a hand or microphone reaches further in."""
    out = np.zeros(occluder.shape, bool)
    box = window(occluder, RIM_SHADOW_PX)  # the oval's erosion reaches RIM_SHADOW_PX
    if box is not None:
        out[box] = occluder[box] & ~touching(occluder[box], erode(oval[box], RIM_SHADOW_PX))
    return out


def rim_debris(mesh: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """bool (512, 512): what the rim of a texture's mesh (`mesh`, its silhouette) lays over that is not
    skin: sideburns, an ear, the background past a jaw the landmarker placed a little wide. The rim is seen
    at a grazing angle, so a turn toward it stretches those few pixels across a whole cheek as streaks."""
    depth = cv2.distanceTransform(mesh.astype(np.uint8), cv2.DIST_L2, 5)
    rim = mesh & (depth < RIM_BAND * np.sqrt(mesh.sum() / np.pi))
    return rim & ~masks["skin"] & ~dilate(_parts(masks), 5)


@dataclass(frozen=True)
class Cover:
    """What lies over a face in its crop: `glasses` (frames), other `objects` (FORD's occluder mask: hands,
    microphones) and `hair` over the oval (FORD's hair there, and `bangs`)."""

    glasses: np.ndarray
    objects: np.ndarray
    hair: np.ndarray
    bangs: np.ndarray

    @classmethod
    def of(cls, crop: np.ndarray, landmarks: np.ndarray, masks: dict[str, np.ndarray],
           outline_shadows: bool = True, keyframe: Cover | None = None) -> Cover:
        """`outline_shadows`: whether the occluder blobs along the oval's rim (rim_shadows) count: on a
        texture they are filled like any cover, harmless; in front of a canvas face they would stay.
        `keyframe`: the same face's Cover on its track's last keyframe (at most 0.2 s back), whose glasses
        and bangs are reused: slow to find (~6 ms), and fixed to the face within a shot, unlike the objects
        and FORD's hair, which are this frame's."""
        frames = glasses(crop, landmarks, masks) if keyframe is None else keyframe.glasses
        fringe = bangs(crop, landmarks, masks) if keyframe is None else keyframe.bangs
        objects = masks["occluder"] & ~frames
        if not outline_shadows:
            objects &= ~rim_shadows(masks["occluder"], masks["face_oval"])
        return cls(frames, objects, (masks["hair"] & masks["face_oval"]) | fringe, fringe)

    def over(self, with_glasses: bool, with_hair: bool = True) -> np.ndarray:
        """bool (512, 512): the objects, and the glasses and hair if asked for."""
        out = self.objects.copy()
        if with_glasses:
            out |= self.glasses
        if with_hair:
            out |= self.hair
        return out

