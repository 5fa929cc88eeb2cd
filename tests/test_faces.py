"""Detection, landmarks and canonical alignment on real photos that ship in packages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import psnr

from facex_video.faces.align import TEMPLATE_512, alignment_matrix, crop_face, paste_face, similarity_transform
from facex_video.faces.detect import tile_windows


def test_finds_all_six_faces_of_t1_with_full_landmarks(analyzer, t1):
    faces = analyzer.analyze(t1)
    assert len(faces) == 6
    for f in faces:
        assert f.landmarks.shape == (478, 3)
        assert f.blendshapes.shape == (52,)
        assert f.pose_matrix.shape == (4, 4)
        # landmarks lie inside their own box and the box is a plausible face size for this photo
        w = f.box[2] - f.box[0]
        assert 60 < w < 200
    # the six faces are six different places
    centres = np.array([(f.box[:2] + f.box[2:]) / 2 for f in faces])
    d = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(6) * 1e9
    assert d.min() > 80


def test_small_far_face_is_found(analyzer, astronaut):
    # the astronaut shrunk so her face is ~45 px wide (2% of the width), far in the corner of a 1080p frame
    small = cv2.resize(astronaut, (250, 250), interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[780:1030, 1570:1820] = small
    faces = analyzer.analyze(frame)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 1570 < x0 < x1 < 1820 and 780 < y0 < y1 < 1030
    assert 35 < x1 - x0 < 60


def test_no_face_gives_empty_list(analyzer):
    from skimage import data

    assert analyzer.analyze(np.ascontiguousarray(data.coffee())) == []
    assert analyzer.analyze(np.zeros((360, 640, 3), np.uint8)) == []


def test_tiles_cover_the_frame():
    for w, h in [(1280, 720), (1920, 1080), (720, 1280), (3840, 2160)]:
        covered = np.zeros((h, w), bool)
        for x, y, side in tile_windows(w, h):
            assert x + side <= w and y + side <= h
            covered[y : y + side, x : x + side] = True
        assert covered.all()
    assert tile_windows(512, 512) == []


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 500, (5, 2))
    angle, scale, shift = np.deg2rad(23), 1.7, np.array([12.0, -40.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-7)


def test_alignment_is_invariant_to_in_plane_rotation(analyzer, astronaut):
    """The canonical crop of the astronaut rotated by 15 degrees matches the crop of the upright photo."""
    face = analyzer.analyze(astronaut)[0]
    m = alignment_matrix(face.five_points())
    crop = crop_face(astronaut, m)
    rot = cv2.getRotationMatrix2D((256, 256), 15, 1.0)
    rotated = cv2.warpAffine(astronaut, rot, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    face_r = analyzer.analyze(rotated)[0]
    m_r = alignment_matrix(face_r.five_points())
    def angle(mat: np.ndarray) -> float:
        return float(np.rad2deg(np.arctan2(mat[1, 0], mat[0, 0])))

    # the alignment undoes the 15 degree roll on top of whatever tilt the upright photo has
    assert angle(m_r) - angle(m) == pytest.approx(15, abs=2)
    crop_r = crop_face(rotated, m_r)
    centre = (slice(160, 400), slice(150, 360))  # the face itself, away from the reflected border
    assert psnr(crop[centre], crop_r[centre]) > 24
    # and the five points land on the template: eyes closely, nose and mouth as far as a smile allows
    err = np.linalg.norm(face.five_points() @ m[:, :2].T + m[:, 2] - TEMPLATE_512, axis=1)
    assert err[:2].max() < 7 and err.max() < 20


def test_paste_of_unchanged_crop_restores_the_frame(analyzer, t1):
    out = t1.copy()
    for f in analyzer.analyze(t1):
        m = alignment_matrix(f.five_points())
        paste_face(out, crop_face(t1, m), m)
    assert psnr(out, t1) > 45


def test_paste_puts_an_edit_exactly_where_the_face_is(analyzer, astronaut):
    """A crop painted white inside the template's eye-to-mouth box lands on the face's landmarks."""
    face = analyzer.analyze(astronaut)[0]
    m = alignment_matrix(face.five_points())
    crop = crop_face(astronaut, m)
    crop[230:380, 190:325] = 255
    out = paste_face(astronaut.copy(), crop, m)
    changed = np.abs(out.astype(int) - astronaut).sum(axis=2) > 30
    ys, xs = np.nonzero(changed)
    # the template box maps back around the eyes-to-mouth landmarks of the real face
    five = face.five_points()
    assert xs.min() < five[:, 0].min() < five[:, 0].max() < xs.max()
    assert ys.min() < five[:, 1].min() < five[:, 1].max() < ys.max()
    # nothing changed far from the face
    far = np.ones_like(changed)
    x0, y0, x1, y1 = face.box.astype(int)
    far[max(0, y0 - 60) : y1 + 60, max(0, x0 - 60) : x1 + 60] = False
    assert not changed[far].any()


def _stderr_lines(script: str) -> list[bytes]:
    """What a fresh Python running `script` printed to fd 2, line by line (it must exit 0)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def test_mediapipe_drawing_helpers_load_only_when_used():
    # mediapipe's vision package imports its drawing helpers and with them matplotlib.pyplot, ~0.4 s of every
    # process's start; faces/mp_runtime defers them to their first use, where they still work
    script = (
        "import os, sys\n"
        "import facex_video.faces.mp_runtime\n"
        "from mediapipe.tasks.python import vision\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert callable(vision.drawing_utils.draw_landmarks) and vision.drawing_styles.get_default_face_mesh_tesselation_style\n"
        "assert 'matplotlib.pyplot' in sys.modules\n"
        "os.write(2, b'ok\\n')\n"
    )
    assert _stderr_lines(script)[-1:] == [b"ok"]


def test_mediapipe_inference_notices_are_dropped_and_other_stderr_kept():
    # MediaPipe's graph threads print a memory-alignment notice to fd 2 now and then during inference
    # (it broke a one-line-error test once); anything else printed there must still reach the user.
    script = (
        "import os\n"
        "from facex_video.faces.mp_runtime import harmless_notices_dropped\n"
        "with harmless_notices_dropped():\n"
        "    os.write(2, b'W0000 00:00 1 inference_runner_litert.cc:1433] Input tensor memory is not aligned\\n')\n"
        "    os.write(2, b'something the user must see\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    assert _stderr_lines(script) == [b"something the user must see", b"after"]


def test_fd2_stays_the_users_when_threads_infer_and_load_models_side_by_side():
    # The inline runner's threads run MediaPipe at once: their captures of fd 2 overlap, and a model load
    # (which silences fd 2) may come between. A race there once left fd 2 pointing at /dev/null, so the
    # job's one-line error never reached the user (exit 2 and an empty stderr).
    script = (
        "import os, threading, time\n"
        "from facex_video.faces.mp_runtime import harmless_notices_dropped, quiet_native_stderr\n"
        "def infer():\n"
        "    for _ in range(200):\n"
        "        with harmless_notices_dropped():\n"
        "            os.write(2, b'W0000 Input tensor memory is not aligned\\n')\n"
        "            time.sleep(0.0005)\n"
        "def load():\n"
        "    for _ in range(50):\n"
        "        with quiet_native_stderr():\n"
        "            os.write(2, b'banner\\n')\n"
        "            time.sleep(0.001)\n"
        "threads = [threading.Thread(target=f) for f in (infer, infer, load)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "with harmless_notices_dropped():\n"
        "    os.write(2, b'seen\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    assert _stderr_lines(script) == [b"seen", b"after"]
