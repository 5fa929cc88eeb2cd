"""ScrfdBoxDetector on a tiny hand-built ONNX graph with SCRFD's real signature (no SCRFD weights exist here).

The graph is a working 3-stride, 2-anchor SCRFD with keypoints, as insightface's SCRFD.forward decodes it:
input `input.1` float 1x3xHxW (dynamic H, W, normalised (px - 127.5) / 128, RGB since insightface swaps
the BGR image it is given), outputs scores (N, 1) for strides 8, 16, 32, then boxes (N, 4), then keypoints
(N, 10), N = (H/s) * (W/s) * 2. At stride s the score of both anchors of a cell is
sigmoid(GAIN * mean of one channel over that s x s cell): stride 32 looks at red, 16 at green, 8 at blue.
Box and keypoint distances are constants (conv heads with zero weights and a bias), in stride units.
So one pure-colour square filling exactly one cell of its stride gives exactly one face, at a place the
anchor math predicts; a black frame gives none; and a detector that forgot RGB -> BGR would see a red square
at stride 8 (sixteen small faces), not at stride 32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facex_video.core.errors import ModelError
from facex_video.faces.detect_scrfd import ScrfdBoxDetector

STRIDES = (8, 16, 32)
CHANNEL = {32: 0, 16: 1, 8: 2}  # input channel each stride's scores look at (R, G, B)
ANCHORS = 2
GAIN = 8.0
BOX = np.array([0.25, 0.125, 1.25, 1.375], np.float32)  # left, top, right, bottom distances in strides
KPS = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], np.float32)  # dx, dy in strides
FRAME_W, FRAME_H = 320, 240


def _const(name: str, value: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def scrfd_graph(*, keypoints: bool = True) -> onnx.ModelProto:
    """The SCRFD-shaped graph described in the module docstring (9 outputs, or 6 without keypoints)."""
    nodes, inits = [], [_const("axes_c", np.array([1], np.int64))]
    outputs: dict[str, list] = {"score": [], "bbox": [], "kps": []}

    def head(src: str, name: str, weight: np.ndarray, bias: np.ndarray, width: int, stride: int) -> None:
        """1x1 conv to (1, 2*width, h, w), then SCRFD's permute + reshape to (h*w*2, width)."""
        inits.extend([_const(f"{name}_w", weight), _const(f"{name}_b", bias)])
        inits.append(_const(f"{name}_shape", np.array([-1, width], np.int64)))
        nodes.append(helper.make_node("Conv", [src, f"{name}_w", f"{name}_b"], [f"{name}_map"]))
        pre = f"{name}_map"
        if name.startswith("score"):
            nodes.append(helper.make_node("Sigmoid", [pre], [f"{name}_sig"]))
            pre = f"{name}_sig"
        nodes.append(helper.make_node("Transpose", [pre], [f"{name}_nhwc"], perm=[0, 2, 3, 1]))
        nodes.append(helper.make_node("Reshape", [f"{name}_nhwc", f"{name}_shape"], [name]))
        kind = name.split("_")[0]
        outputs[kind].append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"n{stride}", width]))

    for s in STRIDES:
        c = CHANNEL[s]
        inits += [_const(f"start{s}", np.array([c], np.int64)), _const(f"end{s}", np.array([c + 1], np.int64))]
        nodes.append(helper.make_node("Slice", ["input.1", f"start{s}", f"end{s}", "axes_c"], [f"ch{s}"]))
        nodes.append(helper.make_node("AveragePool", [f"ch{s}"], [f"cell{s}"], kernel_shape=[s, s], strides=[s, s]))
        gain = np.full((ANCHORS, 1, 1, 1), GAIN, np.float32)
        head(f"cell{s}", f"score_{s}", gain, np.zeros(ANCHORS, np.float32), 1, s)
        zeros = np.zeros((ANCHORS * 4, 1, 1, 1), np.float32)
        head(f"cell{s}", f"bbox_{s}", zeros, np.tile(BOX, ANCHORS), 4, s)
        if keypoints:
            zeros = np.zeros((ANCHORS * 10, 1, 1, 1), np.float32)
            head(f"cell{s}", f"kps_{s}", zeros, np.tile(KPS.ravel(), ANCHORS), 10, s)

    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs["score"] + outputs["bbox"] + outputs["kps"],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def arcface_like_graph() -> onnx.ModelProto:
    """An identity-embedding shaped graph (1x3x112x112 -> 1x512): ONNX, but not a detector."""
    w = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["data"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["fc1"]),
        ],
        "arcface_like",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 512])],
        [_const("w", w)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def scrfd_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scrfd") / "tiny_det.onnx"
    onnx.save(scrfd_graph(), path)
    return path


def square_frame(stride: int, cell: tuple[int, int], scale: float) -> np.ndarray:
    """Black RGB frame with a pure square of stride's colour that becomes exactly `cell` in the letterbox."""
    rgb = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    side = int(stride / scale)
    x0, y0 = cell[0] * side, cell[1] * side
    rgb[y0 : y0 + side, x0 : x0 + side, CHANNEL[stride]] = 255
    return rgb


def expected(stride: int, cell: tuple[int, int], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """SCRFD's decoding: anchor centre at (col, row) * stride, distances * stride, then / letterbox scale."""
    anchor = np.array(cell, float) * stride
    box = np.concatenate([anchor - BOX[:2] * stride, anchor + BOX[2:] * stride]) / scale
    return box, (anchor + KPS * stride) / scale


def test_insightface_routes_the_graph_to_scrfd(scrfd_path: Path) -> None:
    from insightface.model_zoo import get_model
    from insightface.model_zoo.scrfd import SCRFD

    model = get_model(str(scrfd_path), providers=["CPUExecutionProvider"])
    assert isinstance(model, SCRFD)
    assert (model.fmc, model._feat_stride_fpn, model._num_anchors, model.use_kps) == (3, [8, 16, 32], 2, True)
    assert model.input_name == "input.1" and not model.batched


# The frame is 320x240: a 640x640 input letterboxes it at exactly 2x, a 320x320 one at 1x.
@pytest.mark.parametrize("input_size", [(640, 640), (320, 320)])
@pytest.mark.parametrize("stride, cell", [(32, (5, 3)), (16, (9, 7)), (8, (21, 13))])
def test_one_square_one_face_where_the_anchor_math_puts_it(
    scrfd_path: Path, input_size: tuple[int, int], stride: int, cell: tuple[int, int]
) -> None:
    scale = input_size[0] / FRAME_W
    detector = ScrfdBoxDetector(scrfd_path, input_size=input_size)
    faces = detector.detect(square_frame(stride, cell, scale))
    detector.close()
    assert len(faces) == 1, [f.box for f in faces]
    box, kps = expected(stride, cell, scale)
    np.testing.assert_allclose(faces[0].box, box, atol=1.0)
    assert faces[0].keypoints.shape == (5, 2)
    np.testing.assert_allclose(faces[0].keypoints, kps, atol=1.0)
    assert faces[0].score > 0.95


def test_black_frame_has_no_faces(scrfd_path: Path) -> None:
    detector = ScrfdBoxDetector(scrfd_path)
    assert detector.detect(np.zeros((FRAME_H, FRAME_W, 3), np.uint8)) == []


def test_min_score_is_the_threshold(scrfd_path: Path) -> None:
    # Unscaled, a grey square (127 -> -0.004 after normalisation) scores sigmoid(-0.03) ~ 0.49 on its cell.
    rgb = square_frame(32, (5, 3), 1.0) // 255 * 127
    assert ScrfdBoxDetector(scrfd_path, input_size=(320, 320)).detect(rgb) == []
    assert len(ScrfdBoxDetector(scrfd_path, min_score=0.48, input_size=(320, 320)).detect(rgb)) == 1


def test_scrfd_without_keypoints_gives_boxes_and_no_points(tmp_path: Path) -> None:
    path = tmp_path / "det_nokps.onnx"
    onnx.save(scrfd_graph(keypoints=False), path)
    faces = ScrfdBoxDetector(path).detect(square_frame(32, (5, 3), 2.0))
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].box, expected(32, (5, 3), 2.0)[0], atol=1.0)
    assert faces[0].keypoints.shape == (0, 2)


def test_after_close_detect_says_so(scrfd_path: Path) -> None:
    detector = ScrfdBoxDetector(scrfd_path)
    detector.close()
    with pytest.raises(RuntimeError, match="closed"):
        detector.detect(np.zeros((8, 8, 3), np.uint8))


def test_wrong_files_name_the_flag_and_the_file(tmp_path: Path) -> None:
    arcface = tmp_path / "w600k_r50.onnx"
    onnx.save(arcface_like_graph(), arcface)
    with pytest.raises(ModelError, match=r"--detector-model .*w600k_r50\.onnx: not an SCRFD .*ArcFaceONNX"):
        ScrfdBoxDetector(arcface)

    seven = tmp_path / "seven.onnx"
    model = scrfd_graph()
    del model.graph.output[7:]
    onnx.save(model, seven)
    with pytest.raises(ModelError, match=r"--detector-model .*seven\.onnx: not an SCRFD .*7 outputs"):
        ScrfdBoxDetector(seven)

    garbage = tmp_path / "det_10g.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match=r"--detector-model .*det_10g\.onnx: not a loadable ONNX model"):
        ScrfdBoxDetector(garbage)

    with pytest.raises(ModelError, match=r"--detector-model .*nope\.onnx: missing"):
        ScrfdBoxDetector(tmp_path / "nope.onnx")

    renamed = tmp_path / "det_10g.bin"
    renamed.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"--detector-model .*det_10g\.bin: insightface only loads .*\.onnx"):
        ScrfdBoxDetector(renamed)
