"""The canonical face mesh read from the landmarker model, and the region contours against MediaPipe's own."""

from __future__ import annotations

import numpy as np
import pytest

from facex_video.ford.mesh import REGION_CONTOURS, canonical_mesh


def test_canonical_mesh_is_a_closed_face_surface():
    mesh = canonical_mesh()
    assert mesh.vertices.shape == (468, 3) and mesh.triangles.shape == (898, 3)
    # a head about 15 cm wide, y up (forehead above chin), nose tip closest to the camera (largest z)
    width = np.ptp(mesh.vertices[:, 0])
    assert 13 < width < 18
    assert mesh.vertices[10, 1] > mesh.vertices[152, 1]  # forehead top above chin
    assert mesh.vertices[1, 2] == pytest.approx(mesh.vertices[:, 2].max(), abs=0.5)
    # every vertex is used and the surface has consistent size
    assert set(np.unique(mesh.triangles)) == set(range(468))
    assert 0 <= mesh.uv.min() and mesh.uv.max() <= 1
    assert len(mesh.procrustes_ids) > 10 and np.all(mesh.procrustes_weights >= 0)


@pytest.mark.parametrize(
    "name, connections",
    [
        ("face_oval", "FACE_LANDMARKS_FACE_OVAL"),
        ("right_eye", "FACE_LANDMARKS_RIGHT_EYE"),
        ("left_eye", "FACE_LANDMARKS_LEFT_EYE"),
        ("right_eyebrow", "FACE_LANDMARKS_RIGHT_EYEBROW"),
        ("left_eyebrow", "FACE_LANDMARKS_LEFT_EYEBROW"),
        ("right_iris", "FACE_LANDMARKS_RIGHT_IRIS"),
        ("left_iris", "FACE_LANDMARKS_LEFT_IRIS"),
        ("lips", "FACE_LANDMARKS_LIPS"),
    ],
)
def test_region_contours_contain_every_mediapipe_edge(name, connections):
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections

    def edges(loop: tuple[int, ...]) -> set[frozenset[int]]:
        return {frozenset(e) for e in zip(loop, loop[1:] + loop[:1])}

    ours = edges(REGION_CONTOURS["lips_outer"]) | edges(REGION_CONTOURS["lips_inner"]) if name == "lips" else edges(
        REGION_CONTOURS[name]
    )
    theirs = {frozenset((c.start, c.end)) for c in getattr(FaceLandmarksConnections, connections)}
    assert theirs <= ours
