"""FORD identity on real photos with the real dlib models, and ArcFace through a tiny hand-built ONNX graph.

No ArcFace weights exist here, so the ArcFace path runs on a graph with the real signature (input `input.1`
float Nx3x112x112 -> output Nx512): an 8x8 average pool, then a fixed random matrix. Its embedding is a
deterministic, position-sensitive function of the pixels, so a mirror image gives a different one.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facex_video.core.errors import ModelError
from facex_video.faces.types import FaceDetection
from facex_video.ford.identity import (
    DLIB_SAME_PERSON,
    ArcFaceIdentityEncoder,
    DlibIdentityEncoder,
    TrackIdentity,
    frame_quality,
    frontality,
    load_identity_encoder,
    robust_identity,
    sharpness,
    size_score,
)


@pytest.fixture(scope="module")
def dlib_encoder() -> DlibIdentityEncoder:
    encoder = load_identity_encoder()
    assert isinstance(encoder, DlibIdentityEncoder)
    return encoder


def one_face(analyzer, rgb: np.ndarray) -> FaceDetection:
    faces = analyzer.analyze(rgb)
    assert len(faces) == 1, [f.box for f in faces]
    return faces[0]


def mirror(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.fliplr(rgb))


def blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return rgb if sigma == 0 else cv2.GaussianBlur(rgb, (0, 0), sigma)


@pytest.fixture(scope="module")
def astronaut_face(analyzer, astronaut: np.ndarray) -> FaceDetection:
    return one_face(analyzer, astronaut)


@pytest.fixture(scope="module")
def astronaut_embedding(dlib_encoder, astronaut, astronaut_face) -> np.ndarray:
    return dlib_encoder.embed(astronaut, astronaut_face)


@pytest.fixture(scope="module")
def grace_hopper_embedding(dlib_encoder, analyzer, grace_hopper) -> np.ndarray:
    return dlib_encoder.embed(grace_hopper, one_face(analyzer, grace_hopper))


def test_dlib_encoder_describes_itself(dlib_encoder, astronaut, astronaut_face, astronaut_embedding) -> None:
    assert (dlib_encoder.name, dlib_encoder.dim, dlib_encoder.unit_norm) == ("dlib_resnet_v1", 128, False)
    chip = dlib_encoder.chip(astronaut, astronaut_face)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    assert astronaut_embedding.shape == (128,) and astronaut_embedding.dtype == np.float32
    assert dlib_encoder.embed_chips([]).shape == (0, 128)


def test_mirror_image_is_the_same_person(dlib_encoder, analyzer, astronaut, astronaut_embedding) -> None:
    flipped = mirror(astronaut)
    d = dlib_encoder.distance(astronaut_embedding, dlib_encoder.embed(flipped, one_face(analyzer, flipped)))
    assert d < 0.4, f"astronaut vs its mirror image: {d:.3f}"


def test_six_people_in_t1_are_all_different(dlib_encoder, analyzer, t1) -> None:
    faces = analyzer.analyze(t1)
    assert len(faces) == 6
    chips = [dlib_encoder.chip(t1, f) for f in faces]
    emb = dlib_encoder.embed_chips(chips)
    assert emb.shape == (6, 128) and emb.dtype == np.float32
    # the batch gives what one chip at a time gives
    np.testing.assert_allclose(dlib_encoder.embed_chips(chips[:1])[0], emb[0], atol=1e-5)
    pairs = {(i, j): dlib_encoder.distance(emb[i], emb[j]) for i, j in itertools.combinations(range(6), 2)}
    closest = min(pairs, key=pairs.get)
    assert pairs[closest] > DLIB_SAME_PERSON, f"closest pair {closest}: {pairs[closest]:.3f}"


def test_grace_hopper_is_not_the_astronaut(dlib_encoder, astronaut_embedding, grace_hopper_embedding) -> None:
    d = dlib_encoder.distance(astronaut_embedding, grace_hopper_embedding)
    assert d > DLIB_SAME_PERSON, f"grace_hopper vs astronaut: {d:.3f}"


def test_robust_identity_ignores_another_persons_frame(
    dlib_encoder, analyzer, astronaut, grace_hopper, grace_hopper_embedding
) -> None:
    """Four real variants of the astronaut, Grace Hopper with the highest quality (a tracker mistake), and
    a fifth astronaut frame of the lowest quality that top_k leaves out."""
    rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((256, 256), 10, 1.0), (512, 512))
    darker = (astronaut * 0.6).astype(np.uint8)
    frames = [astronaut, mirror(astronaut), blur(astronaut, 1.0), darker, rotated]
    chips = [dlib_encoder.chip(rgb, one_face(analyzer, rgb)) for rgb in frames]
    astro = dlib_encoder.embed_chips(chips)
    embeddings = np.vstack([grace_hopper_embedding, astro])
    qualities = np.array([0.99, 0.9, 0.8, 0.7, 0.6, 0.05])
    clean = astro[:4].mean(axis=0)

    result = robust_identity(embeddings, qualities, top_k=5)
    assert result.shape == (128,) and result.dtype == np.float32
    d = dlib_encoder.distance(result, clean)
    assert d < 0.2, f"robust mean vs clean mean: {d:.3f}"
    np.testing.assert_allclose(result, clean, atol=1e-6)  # exactly the four astronaut frames
    naive = dlib_encoder.distance(embeddings[:5].mean(axis=0), clean)
    assert naive > 0.1, f"the plain mean should be pulled away: {naive:.3f}"


def test_robust_identity_keeps_identical_frames_and_normalises_unit_vectors() -> None:
    v = np.random.default_rng(0).standard_normal(16)
    v /= np.linalg.norm(v)
    np.testing.assert_allclose(robust_identity(np.tile(v, (3, 1)), np.ones(3)), v, atol=1e-6)
    noisy = v + np.random.default_rng(1).normal(0, 0.05, (4, 16))
    unit = robust_identity(noisy / np.linalg.norm(noisy, axis=1, keepdims=True), np.ones(4), unit_norm=True)
    assert abs(np.linalg.norm(unit) - 1) < 1e-6
    with pytest.raises(ValueError):
        robust_identity(np.zeros((0, 16)), np.zeros(0))


def test_track_identity_keeps_the_sharpest_chips(
    dlib_encoder, analyzer, astronaut, grace_hopper, astronaut_embedding, grace_hopper_embedding
) -> None:
    sigmas = [3.0, 0.0, 4.0, 1.4, 2.0, 0.7]  # offered out of order
    frames = {s: blur(astronaut, s) for s in sigmas}
    faces = {s: one_face(analyzer, rgb) for s, rgb in frames.items()}
    quality = {s: frame_quality(frames[s], faces[s]) for s in sigmas}
    assert sorted(sigmas, key=quality.get, reverse=True) == sorted(sigmas), quality

    tracks = TrackIdentity(dlib_encoder, top_k=3)
    hopper = one_face(analyzer, grace_hopper)
    for n, s in enumerate(sigmas, 1):
        tracks.offer(1, frames[s], faces[s], quality[s])
        tracks.offer(2, grace_hopper, hopper, frame_quality(grace_hopper, hopper))
        assert len(tracks.best(1)) == min(n, 3) and len(tracks.best(2)) == min(n, 3)

    kept = tracks.best(1)
    assert [q for q, _ in kept] == [quality[s] for s in (0.0, 0.7, 1.4)]
    for (_, chip), s in zip(kept, (0.0, 0.7, 1.4)):
        np.testing.assert_array_equal(chip, dlib_encoder.chip(frames[s], faces[s]))

    first = tracks.finish(1)
    assert first.shape == (128,)
    with pytest.raises(KeyError):
        tracks.best(1)
    assert dlib_encoder.distance(first, astronaut_embedding) < 0.25
    assert dlib_encoder.distance(tracks.finish(2), grace_hopper_embedding) < 1e-5


class MarkerEncoder:
    """Stands in for a real encoder: the 'chip' is the frame itself, the embedding its first pixel."""

    name, dim, unit_norm = "marker", 1, False

    def chip(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray:
        return rgb

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        return np.array([[float(c.flat[0])] for c in chips], np.float32)


def test_track_identity_keeps_earlier_frames_on_ties_and_only_top_k() -> None:
    tracks = TrackIdentity(MarkerEncoder(), top_k=2)  # type: ignore[arg-type]  # only chip/embed_chips are used
    for i, q in enumerate([0.5, 0.5, 0.5, 0.1, 0.5, 0.9]):
        tracks.offer(7, np.full((2, 2, 3), i, np.uint8), None, q)  # type: ignore[arg-type]
    assert [(q, int(chip.flat[0])) for q, chip in tracks.best(7)] == [(0.9, 5), (0.5, 0)]
    assert tracks.finish(7).tolist() == [2.5]  # two frames, none an outlier: their mean


def test_sharper_frames_score_higher(analyzer, astronaut, astronaut_face) -> None:
    blurred = blur(astronaut, 2.0)
    face = one_face(analyzer, blurred)
    assert sharpness(astronaut, astronaut_face) > 0.7 > 0.2 > sharpness(blurred, face)
    assert frame_quality(astronaut, astronaut_face) > frame_quality(blurred, face)


def test_larger_faces_score_higher(analyzer, astronaut, astronaut_face) -> None:
    small = cv2.resize(astronaut, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    face = one_face(analyzer, small)
    assert size_score(astronaut_face) == pytest.approx(2 * size_score(face), rel=0.05)
    assert frame_quality(astronaut, astronaut_face) > frame_quality(small, face)
    assert size_score(astronaut_face) < 1.0  # ~42 px between the eyes: below saturation


def test_frontal_faces_score_higher_than_turned_ones(analyzer, t1, astronaut, astronaut_face) -> None:
    faces = analyzer.analyze(t1)
    # t1's leftmost person looks at the camera, the fifth one is turned by about 50 degrees
    assert frontality(faces[0]) > 0.9 > 0.5 > frontality(faces[4])
    assert frame_quality(t1, faces[0]) > frame_quality(t1, faces[4])
    # in-plane rotation is undone by alignment: it does not count
    rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((256, 256), 20, 1.0), (512, 512))
    assert frontality(one_face(analyzer, rotated)) == pytest.approx(frontality(astronaut_face), abs=0.05)
    for face in faces:
        q = frame_quality(t1, face)
        assert 0 < q <= 1
        assert q == pytest.approx(frontality(face) * sharpness(t1, face) * size_score(face))


# --- ArcFace: a tiny graph with the real signature --------------------------------------------------------

POOL = 14  # 112 / 14 = 8x8 cells per channel


def arcface_graph(batch: int | str = "N") -> onnx.ModelProto:
    """input.1 (batch, 3, 112, 112) -> AveragePool 14x14 -> Flatten (192) -> MatMul fixed random -> (batch, 512)."""
    w = np.random.default_rng(0).standard_normal((3 * 8 * 8, 512)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["input.1"], ["cells"], kernel_shape=[POOL, POOL], strides=[POOL, POOL]),
            helper.make_node("Flatten", ["cells"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["683"]),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [batch, 512])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def expected_embedding(chip_rgb: np.ndarray) -> np.ndarray:
    """What the graph computes, by hand: RGB planes normalised (px - 127.5) / 127.5 as insightface does."""
    x = (chip_rgb.astype(np.float64) - 127.5) / 127.5
    cells = x.reshape(8, POOL, 8, POOL, 3).mean(axis=(1, 3)).transpose(2, 0, 1).ravel()
    out = cells @ np.random.default_rng(0).standard_normal((192, 512)).astype(np.float32)
    return out / np.linalg.norm(out)


@pytest.fixture(scope="module", params=["N", 1], ids=["dynamic_batch", "batch_of_1"])
def arcface_path(request, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("arcface") / "w600k_r50.onnx"
    onnx.save(arcface_graph(request.param), path)
    return path


def test_insightface_routes_the_graph_to_arcface(arcface_path: Path) -> None:
    from insightface.model_zoo import get_model
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    model = get_model(str(arcface_path), providers=["CPUExecutionProvider"])
    assert isinstance(model, ArcFaceONNX)
    assert (model.input_name, model.input_size) == ("input.1", (112, 112))
    assert (model.input_mean, model.input_std) == (127.5, 127.5)


def test_arcface_encoder_embeds_unit_vectors_of_the_aligned_face(
    arcface_path: Path, analyzer, astronaut, astronaut_face
) -> None:
    from insightface.utils.face_align import norm_crop

    encoder = load_identity_encoder(arcface_path)
    assert isinstance(encoder, ArcFaceIdentityEncoder)
    assert (encoder.name, encoder.dim, encoder.unit_norm) == ("arcface:w600k_r50.onnx", 512, True)

    chip = encoder.chip(astronaut, astronaut_face)
    bgr = np.ascontiguousarray(astronaut[..., ::-1])
    insightface_crop = norm_crop(bgr, landmark=astronaut_face.five_points(), image_size=112)
    np.testing.assert_array_equal(chip, insightface_crop[..., ::-1])
    emb = encoder.embed(astronaut, astronaut_face)
    assert emb.shape == (512,) and emb.dtype == np.float32
    assert abs(np.linalg.norm(emb) - 1) < 1e-5
    np.testing.assert_allclose(emb, expected_embedding(chip), atol=1e-4)  # RGB reaches the network as RGB
    assert encoder.distance(emb, encoder.embed(astronaut.copy(), astronaut_face)) < 1e-6

    flipped = mirror(astronaut)
    flipped_chip = encoder.chip(flipped, one_face(analyzer, flipped))
    batch = encoder.embed_chips([chip, flipped_chip, chip])
    assert batch.shape == (3, 512)
    np.testing.assert_allclose(batch[0], emb, atol=1e-5)
    np.testing.assert_allclose(batch[2], emb, atol=1e-5)
    assert encoder.distance(emb, batch[1]) > 1e-3


def test_wrong_identity_models_name_the_flag_and_the_file(tmp_path: Path) -> None:
    classifier = tmp_path / "classifier.onnx"
    w = np.zeros((3 * 64 * 64, 10), np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input.1"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "classifier",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), classifier)
    with pytest.raises(ModelError, match=r"--identity-model .*classifier\.onnx: not an ArcFace model"):
        load_identity_encoder(classifier)

    garbage = tmp_path / "w600k_r50.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match=r"--identity-model .*w600k_r50\.onnx: not a loadable ONNX model"):
        load_identity_encoder(garbage)

    renamed = tmp_path / "w600k_r50.bin"
    renamed.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"--identity-model .*w600k_r50\.bin: .*\*\.onnx"):
        load_identity_encoder(renamed)

    with pytest.raises(ModelError, match=r"--identity-model .*nope\.onnx: missing"):
        load_identity_encoder(tmp_path / "nope.onnx")
