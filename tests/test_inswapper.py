"""The inswapper backend on a tiny hand-built ONNX graph with inswapper_128's real signature (no weights exist
here), over real faces analysed by FORD.

The graph: inputs `target` float 1x3x128x128 (RGB in [0, 1], as insightface's INSwapper feeds it) and
`source` float 1x512 (the latent: ArcFace embedding @ emap, normalised), output 1x3x128x128:
    output[c] = W[c] * target[c] + B[c] + 0.3 * tanh(source @ P)[c]
a 1x1 convolution with a different gain per channel (so a red/blue mix-up shows) plus a per-channel colour
shift that depends on the source identity. `emap` (512x512) is the last initializer, where INSwapper reads
it; the graph itself never uses it, like the real file. So the swapped face is the target face with a
colour cast that we can predict by hand from the embedding.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facex_video.core.errors import ModelError
from facex_video.faces.types import TrackedFace
from facex_video.ford.decompose import represent_face
from facex_video.ford.representation import Identity
from facex_video.render.base import TrackState
from facex_video.render.inswapper import InswapperRenderer
from facex_video.tasks.assemble import AssembledFace, FaceInput, assemble

GAIN = np.array([0.9, 1.0, 1.1], np.float32)
BIAS = np.array([0.02, 0.0, -0.02], np.float32)
SHIFT = 0.3
rng = np.random.default_rng(0)
PROJECT = (2 * rng.standard_normal((512, 3))).astype(np.float32)
EMAP = (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)


def _tensor(name: str, value) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def swapper_graph(*, emap: np.ndarray = EMAP) -> onnx.ModelProto:
    """The inswapper-shaped graph of the module docstring; `emap` goes last among the initializers."""
    nodes = [
        helper.make_node("Conv", ["target", "gain", "bias"], ["mixed"]),
        helper.make_node("MatMul", ["source", "project"], ["projected"]),
        helper.make_node("Tanh", ["projected"], ["squashed"]),
        helper.make_node("Mul", ["squashed", "shift"], ["cast"]),
        helper.make_node("Reshape", ["cast", "cast_shape"], ["cast_map"]),
        helper.make_node("Add", ["mixed", "cast_map"], ["output"]),
    ]
    initializers = [
        _tensor("gain", np.diag(GAIN).reshape(3, 3, 1, 1)),
        _tensor("bias", BIAS),
        _tensor("project", PROJECT),
        _tensor("shift", np.float32(SHIFT)),
        _tensor("cast_shape", np.array([1, 3, 1, 1], np.int64)),
        _tensor("emap", emap),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_inswapper",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def expected_cast(embedding: np.ndarray) -> np.ndarray:
    """(3,) colour shift the graph adds for an identity, by hand: latent = normalised(normalised(e) @ emap)."""
    latent = (embedding / np.linalg.norm(embedding)) @ EMAP.astype(np.float64)
    latent /= np.linalg.norm(latent)
    return SHIFT * np.tanh(latent @ PROJECT.astype(np.float64))


def predicted(pixels: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """(n, 3) what the graph makes of (n, 3) uint8 RGB pixels for an identity, in 0-255."""
    v = pixels.astype(np.float64) / 255
    return np.clip(v * GAIN + BIAS + expected_cast(embedding), 0, 1) * 255


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def swapper_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inswapper") / "inswapper_128.onnx"
    onnx.save(swapper_graph(), path)
    return path


@pytest.fixture(scope="module")
def renderer(swapper_path: Path) -> InswapperRenderer:
    return InswapperRenderer(swapper_path)


def face_input(analyzer, rgb: np.ndarray, name: str) -> FaceInput:
    (det,) = analyzer.analyze(rgb)
    face = TrackedFace(0, 0, det, det.landmarks)
    placeholder = Identity(np.zeros(512, np.float32), "arcface:w600k_r50.onnx", np.zeros((478, 3), np.float32))
    rep = represent_face(rgb, face, source=name, timestamp=0.0, identity=placeholder)
    rep.identity.neutral_shape = rep.intra.landmarks_3d.copy()
    return FaceInput(rgb, rep)


@pytest.fixture(scope="module")
def swap_onto_hopper(analyzer, astronaut, grace_hopper) -> AssembledFace:
    """Astronaut -> grace_hopper, with the astronaut's identity as a (stand-in) ArcFace embedding."""
    source, target = face_input(analyzer, astronaut, "astronaut"), face_input(analyzer, grace_hopper, "grace")
    source.rep.identity.embedding = unit(1)
    return assemble("swap", canvas=target, identity=source, expression=target.rep, pose=target.rep,
                    gaze=target.rep, lighting=target.rep)


def with_identity(assembled: AssembledFace, embedding: np.ndarray, encoder: str = "arcface:w600k_r50.onnx"):
    return dataclasses.replace(assembled, identity=dataclasses.replace(assembled.identity, embedding=embedding,
                                                                       encoder=encoder))


def test_insightface_routes_the_graph_to_its_inswapper(swapper_path: Path) -> None:
    from insightface.model_zoo import get_model
    from insightface.model_zoo.inswapper import INSwapper

    model = get_model(str(swapper_path), providers=["CPUExecutionProvider"])
    assert isinstance(model, INSwapper)
    assert (model.input_names, model.input_size) == (["target", "source"], (128, 128))
    np.testing.assert_array_equal(model.emap, EMAP)


def test_renderer_describes_itself(renderer: InswapperRenderer) -> None:
    assert (renderer.name, renderer.tasks) == ("inswapper", frozenset({"swap"}))
    assert (renderer.embedding_dim, renderer.size) == (512, 128)


def test_swap_changes_only_the_face_and_as_the_graph_says(renderer, swap_onto_hopper) -> None:
    a = swap_onto_hopper
    canvas = a.canvas_crop
    crop, alpha = renderer.render(a, TrackState(0))
    assert crop.shape == (512, 512, 3) and crop.dtype == np.uint8
    assert alpha.shape == (512, 512) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() == pytest.approx(1.0)

    masks = a.canvas_masks
    assert not alpha[~masks["face_oval"]].any()
    assert not alpha[masks["mouth_interior"] | masks["occluder"]].any()
    np.testing.assert_array_equal(crop[alpha == 0], canvas[alpha == 0])
    assert (alpha > 0.999).sum() > 0.5 * masks["face_oval"].sum()  # the feather is a rim, not the whole face

    # inside the face the crop is the graph's output: per channel gain, bias and the identity's colour cast
    inner = alpha > 0.999
    got = crop[inner].astype(np.float64)
    np.testing.assert_allclose(got.mean(axis=0), predicted(canvas[inner], unit(1)).mean(axis=0), atol=2.0)
    assert np.abs(got - canvas[inner]).mean() > 10


def test_the_swap_depends_on_the_source_identity(renderer, swap_onto_hopper) -> None:
    first, alpha = renderer.render(with_identity(swap_onto_hopper, unit(1)), TrackState(0))
    second, alpha2 = renderer.render(with_identity(swap_onto_hopper, unit(2)), TrackState(0))
    np.testing.assert_array_equal(alpha, alpha2)  # where the face is does not depend on who it becomes
    face = alpha > 0.999
    diff = np.abs(first[face].astype(np.float64) - second[face]).mean(axis=0)
    pixels = swap_onto_hopper.canvas_crop[face]
    want = np.abs(predicted(pixels, unit(1)) - predicted(pixels, unit(2))).mean(axis=0)
    assert diff.max() > 10
    np.testing.assert_allclose(diff, want, atol=3.0)
    # the embedding's length does not matter: insightface normalises it
    scaled, _ = renderer.render(with_identity(swap_onto_hopper, 3 * unit(1)), TrackState(0))
    np.testing.assert_array_equal(scaled, first)


def test_occluders_keep_the_target(renderer, swap_onto_hopper) -> None:
    hand = np.zeros((512, 512), np.uint8)
    cv2.circle(hand, (300, 330), 30, 1, -1)
    masks = {**swap_onto_hopper.canvas_masks, "occluder": hand.astype(bool)}
    crop, alpha = renderer.render(dataclasses.replace(swap_onto_hopper, canvas_masks=masks), TrackState(0))
    assert not alpha[hand.astype(bool)].any()
    np.testing.assert_array_equal(crop[hand.astype(bool)], swap_onto_hopper.canvas_crop[hand.astype(bool)])


def test_a_dlib_identity_asks_for_an_arcface_model(renderer, swap_onto_hopper) -> None:
    dlib_face = with_identity(swap_onto_hopper, np.full(128, 0.1, np.float32), encoder="dlib_resnet_v1")
    with pytest.raises(ModelError, match=r"inswapper needs an ArcFace embedding: pass --identity-model "
                                         r"w600k_r50\.onnx \(the source identity is 128-D from dlib_resnet_v1\)"):
        renderer.render(dlib_face, TrackState(0))
    with pytest.raises(ModelError, match=r"the source identity \(arcface:w600k_r50\.onnx\) is empty"):
        renderer.render(with_identity(swap_onto_hopper, np.zeros(512, np.float32)), TrackState(0))


def test_wrong_swapper_models_name_the_flag_and_the_file(tmp_path: Path) -> None:
    arcface = tmp_path / "w600k_r50.onnx"
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input.1"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["683"])],
        "arcface_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])],
        [_tensor("w", np.zeros((3 * 112 * 112, 512), np.float32))],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), arcface)
    with pytest.raises(ModelError, match=r"--swapper-model .*w600k_r50\.onnx: not an inswapper model "
                                         r"\(insightface reads it as ArcFaceONNX"):
        InswapperRenderer(arcface)

    no_emap = tmp_path / "no_emap.onnx"
    onnx.save(swapper_graph(emap=np.zeros((512, 3), np.float32)), no_emap)
    with pytest.raises(ModelError, match=r"--swapper-model .*no_emap\.onnx: its last initializer has shape "
                                         r"\(512, 3\), not the \(embedding, 512\) emap"):
        InswapperRenderer(no_emap)

    garbage = tmp_path / "inswapper_128.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match=r"--swapper-model .*inswapper_128\.onnx: not a loadable ONNX model"):
        InswapperRenderer(garbage)

    renamed = tmp_path / "inswapper_128.bin"
    renamed.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"--swapper-model .*inswapper_128\.bin: .*\*\.onnx"):
        InswapperRenderer(renamed)

    with pytest.raises(ModelError, match=r"--swapper-model .*nope\.onnx: missing"):
        InswapperRenderer(tmp_path / "nope.onnx")
