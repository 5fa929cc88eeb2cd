"""The facex backend end to end with tiny Stable Diffusion/FaceX models built from configs (no weights exist
here), saved the way users have them: a diffusers folder, an original-layout single .safetensors file, and a
FaceX checkpoint folder. The controller's zero-initialised outputs are given small random weights, as after
training, so the condition reaches the image."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from sd_layout import write_single_file

from facex_video.cli import main
from facex_video.core.errors import ModelError
from facex_video.media import iter_chunks, read_image, write_image
from facex_video.media.synth import Shot, write_clip
from facex_video.render.base import TrackState
from facex_video.render.facex.config import FaceXConfig
from facex_video.render.facex.pipeline import FaceXPipeline
from facex_video.render.facex.renderer import FaceXOptions, FaceXRenderer
from facex_video.render.facex.weights import load_base, load_controller
from facex_video.tasks.assemble import assemble

STEPS = 3
ZERO_INITIALISED = ("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")
pytestmark = pytest.mark.usefixtures("single_thread")


def as_if_trained(pipe: FaceXPipeline, seed: int = 0) -> FaceXPipeline:
    """Small random weights where the controller starts at zero, so its residuals are not all zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pipe.controller.controlnet.named_parameters():
            if name.startswith(ZERO_INITIALISED):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return pipe


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """A tiny pipeline and its weights on disk: base folder, base single file, FaceX checkpoint."""
    root = tmp_path_factory.mktemp("facex_weights")
    pipe = as_if_trained(FaceXPipeline.build(FaceXConfig.tiny(), seed=0))
    pipe.unet.save_pretrained(root / "sd15" / "unet")
    pipe.vae.save_pretrained(root / "sd15" / "vae")
    pipe.controller.save_pretrained(root / "facex")
    return {"pipe": pipe, "base": root / "sd15", "single": write_single_file(root / "sd15.safetensors", pipe.unet,
                                                                            pipe.vae), "checkpoint": root / "facex"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut, grace_hopper) -> dict[str, Path]:
    """Still source and target photos, and an 8-frame clip of the target under a slow zoom."""
    root = tmp_path_factory.mktemp("facex_inputs")
    write_image(root / "astronaut.png", astronaut)
    write_image(root / "grace.png", grace_hopper)
    write_clip(root / "grace.mp4", [Shot(grace_hopper, seconds=0.8, zoom=(0.9, 0.85))], size=(320, 272),
               fps=Fraction(10))
    return {"source": root / "astronaut.png", "image": root / "grace.png", "clip": root / "grace.mp4"}


def facex_flags(tiny: dict, base: str = "base") -> list[str]:
    return ["--backend", "facex", "--base-model", str(tiny[base]), "--facex-checkpoint", str(tiny["checkpoint"]),
            "--steps", str(STEPS), "--quiet"]


TASK_ARGS = {
    "swap": lambda i, t: ["--source", str(i["source"]), "--target", str(t)],
    "headswap": lambda i, t: ["--source", str(i["source"]), "--target", str(t)],
    "hairswap": lambda i, t: ["--source", str(i["source"]), "--target", str(t)],
    "reenact": lambda i, t: ["--source", str(i["source"]), "--driving", str(t)],
    "edit": lambda i, t: ["--target", str(t), "--smile", "0.6", "--gaze", "8,0"],
    "inpaint": lambda i, t: ["--target", str(t), "--region", "eyes"],
    "mix": lambda i, t: ["--target", str(t), "--take", f"identity={i['source']}"],
}


def frames_of(path: Path) -> np.ndarray:
    if path.suffix == ".png":
        return read_image(path)[None]
    return np.concatenate([c.frames for c in iter_chunks(path)])


@pytest.mark.slow
@pytest.mark.parametrize("task", list(TASK_ARGS))
def test_every_task_runs_through_the_cli_on_an_image_and_a_clip(task, tiny, inputs, tmp_path, astronaut) -> None:
    for kind, suffix in (("image", ".png"), ("clip", ".mp4")):
        out = tmp_path / f"{task}{suffix}"
        assert main([task, *TASK_ARGS[task](inputs, inputs[kind]), "-o", str(out), *facex_flags(tiny)]) == 0
        result = frames_of(out).astype(np.float64)
        canvas = frames_of(inputs[kind]).astype(np.float64)
        if task == "reenact":  # composed onto the still source, on the driving clip's timeline
            canvas = np.repeat(astronaut[None].astype(np.float64), len(frames_of(inputs[kind])), axis=0)
        assert result.shape == canvas.shape
        diff = np.abs(result - canvas).max(axis=-1)
        changed = (diff > 12).mean(axis=(1, 2))
        # every frame: part of the face generated, most of the picture left as it was
        assert changed.min() > (0.001 if task == "inpaint" else 0.01), (kind, changed)
        assert changed.max() < 0.5, (kind, changed)
        corner = np.abs(result - canvas)[:, :16, :16]  # far from the face: as it was (up to H.264's loss)
        assert corner.max() == 0 if kind == "image" else corner.mean() < 6


def swap(faces) -> object:
    grace = faces["grace"]
    return assemble("swap", canvas=grace, identity=faces["astronaut"], expression=grace.rep, pose=grace.rep,
                    gaze=grace.rep, lighting=grace.rep)


def render(renderer: FaceXRenderer, assembled, track_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return renderer.render(assembled, TrackState(0, seed=track_seed))


def test_same_seed_same_output_another_seed_another(tiny, faces) -> None:
    a = swap(faces)
    renderer = FaceXRenderer(FaceXOptions(steps=STEPS), pipeline=tiny["pipe"])
    first, alpha = render(renderer, a)
    again, alpha_again = render(renderer, a)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(alpha, alpha_again)
    other_track, alpha_other = render(renderer, a, track_seed=1)
    other_seed, _ = render(FaceXRenderer(FaceXOptions(steps=STEPS, seed=7), pipeline=tiny["pipe"]), a)
    np.testing.assert_array_equal(alpha, alpha_other)  # where the face is does not depend on the noise
    inside = alpha > 0.999
    for different in (other_track, other_seed):
        assert np.abs(different[inside].astype(float) - first[inside]).mean() > 1.0
    # outside the generated area the crop is the canvas, bit for bit
    np.testing.assert_array_equal(first[alpha == 0], a.canvas_crop[alpha == 0])
    assert 0.05 < inside.mean() < 0.7


def test_the_condition_and_the_identity_steer_the_result(tiny, faces) -> None:
    renderer = FaceXRenderer(FaceXOptions(steps=STEPS), pipeline=tiny["pipe"])
    a = swap(faces)
    base, alpha = render(renderer, a)
    inside = alpha > 0.999
    import dataclasses

    moved = dataclasses.replace(a, landmarks=a.landmarks + np.array([20.0, 0.0, 0.0]))
    other_identity = dataclasses.replace(a, identity=dataclasses.replace(
        a.identity, embedding=np.roll(a.identity.embedding, 17)))
    # a random frozen UNet passes the controller's residuals on weakly, but any change proves the path:
    # the same inputs give the same bits (test above)
    for what, changed, least in (("condition", moved, 0.02), ("identity", other_identity, 0.3)):
        out, _ = render(renderer, changed)
        diff = np.abs(out[inside].astype(float) - base[inside])
        assert diff.mean() > least and (diff.max(axis=-1) > 0).mean() > 0.01, what


def test_weights_round_trip_bit_for_bit_from_a_folder_and_a_single_file(tiny, faces, tmp_path) -> None:
    a = swap(faces)
    expected, _ = render(FaceXRenderer(FaceXOptions(steps=STEPS), pipeline=tiny["pipe"]), a)
    variant = tmp_path / "sd15_fp16_variant"  # folders that ship only diffusion_pytorch_model.fp16.safetensors
    for part in ("unet", "vae"):
        getattr(tiny["pipe"], part).save_pretrained(variant / part, variant="fp16")
    assert not (variant / "unet" / "diffusion_pytorch_model.safetensors").exists()
    for base in (tiny["base"], tiny["single"], variant):
        loaded = FaceXRenderer(FaceXOptions(base, tiny["checkpoint"], steps=STEPS))
        got, _ = render(loaded, a)
        np.testing.assert_array_equal(got, expected)
    reloaded = load_controller(tiny["checkpoint"])
    for name, tensor in tiny["pipe"].controller.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name


def test_the_cli_takes_a_single_file_base_model(tiny, inputs, tmp_path) -> None:
    outs = []
    for base in ("base", "single"):
        outs.append(tmp_path / f"swap_{base}.png")
        args = ["swap", *TASK_ARGS["swap"](inputs, inputs["image"]), "-o", str(outs[-1]), *facex_flags(tiny, base)]
        assert main(args) == 0
    np.testing.assert_array_equal(read_image(outs[0]), read_image(outs[1]))


def test_pickles_and_missing_weights_are_refused_clearly(tiny, inputs, tmp_path, capsys) -> None:
    pickled = tmp_path / "facex_pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny["checkpoint"] / "config.json").read_text())
    torch.save(tiny["pipe"].controller.state_dict(), pickled / "diffusion_pytorch_model.bin")
    with pytest.raises(ModelError, match=r"--facex-checkpoint .*diffusion_pytorch_model\.bin: pickled weights are refused"):
        load_controller(pickled)
    ckpt = tmp_path / "v1-5-pruned.ckpt"
    torch.save({"state_dict": {}}, ckpt)
    with pytest.raises(ModelError, match=r"--base-model .*v1-5-pruned\.ckpt: pickled weights are refused"):
        load_base(ckpt, FaceXConfig.tiny())
    with pytest.raises(ModelError, match=r"--base-model .*nowhere: missing"):
        load_base(tmp_path / "nowhere", FaceXConfig.tiny())
    wrong = FaceXConfig.tiny(unet={**FaceXConfig.tiny().unet, "cross_attention_dim": 64})
    with pytest.raises(ModelError, match=r"--base-model .*not the base the FaceX checkpoint was trained on"):
        load_base(tiny["base"], wrong)

    out = tmp_path / "o.png"
    args = ["swap", *TASK_ARGS["swap"](inputs, inputs["image"]), "-o", str(out), "--backend", "facex"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--base-model PATH" in err and "--facex-checkpoint PATH" in err
    assert main([*args, "--base-model", str(tiny["base"]), "--facex-checkpoint", str(pickled)]) == 2
    assert "pickled weights are refused" in capsys.readouterr().err
    assert not out.exists()


def test_precision_and_device_choices(tiny, faces) -> None:
    a = swap(faces)
    fp32, alpha = render(FaceXRenderer(FaceXOptions(tiny["base"], tiny["checkpoint"], steps=STEPS)), a)
    bf16, _ = render(FaceXRenderer(FaceXOptions(tiny["base"], tiny["checkpoint"], steps=STEPS, dtype="bf16")), a)
    inside = alpha > 0.999
    gap = np.abs(bf16[inside].astype(float) - fp32[inside]).mean()
    assert 0 < gap < 8  # bfloat16 keeps ~3 significant digits: close to fp32, not equal
    with pytest.raises(ModelError, match=r"--dtype fp16 needs --device cuda"):
        FaceXRenderer(FaceXOptions(tiny["base"], tiny["checkpoint"], dtype="fp16"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match=r"--device cuda: no CUDA GPU"):
            FaceXRenderer(FaceXOptions(tiny["base"], tiny["checkpoint"], device="cuda"))


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "euler"])
def test_each_scheduler_samples_deterministically_and_sdedit_keeps_the_init(tiny, scheduler) -> None:
    pipe = tiny["pipe"]
    pipe.use_scheduler(scheduler)
    size = pipe.facex_config.resolution
    rng = np.random.default_rng(0)
    cond = rng.random((2, size, size, 7), dtype=np.float32)
    ident = rng.standard_normal((2, 128)).astype(np.float32)
    look = rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8)
    out = pipe(cond, ident, look, steps=4, seeds=[1, 2])
    assert out.shape == (2, size, size, 3) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, pipe(cond, ident, look, steps=4, seeds=[1, 2]))
    assert np.abs(out[0] - pipe(cond[:1], ident[:1], look[:1], steps=4, seeds=[1])[0]).max() < 1e-5  # batch = single
    # SDEdit: the lower the strength, the closer the result stays to its init's round trip through the VAE
    init = (pipe(cond, ident, look, steps=4, seeds=[3, 4]) * 255).astype(np.uint8)
    with torch.no_grad():
        round_trip = pipe.decode(pipe.encode(torch.from_numpy(init).permute(0, 3, 1, 2) / 127.5 - 1))
    round_trip = round_trip.permute(0, 2, 3, 1).numpy()
    gap = {s: np.abs(pipe(cond, ident, look, steps=4, seeds=[1, 2], strength=s, init=init) - round_trip).mean()
           for s in (0.25, 0.75, 1.0)}
    assert gap[0.25] < gap[0.75] < gap[1.0], gap
    pipe.use_scheduler("ddim")


def test_strength_below_one_starts_from_the_geometric_render(tiny, faces) -> None:
    a = swap(faces)
    scratch, alpha = render(FaceXRenderer(FaceXOptions(steps=4), pipeline=tiny["pipe"]), a)
    edited, alpha_edit = render(FaceXRenderer(FaceXOptions(steps=4, strength=0.5), pipeline=tiny["pipe"]), a)
    np.testing.assert_array_equal(alpha, alpha_edit)
    inside = alpha > 0.999
    assert np.abs(edited[inside].astype(float) - scratch[inside]).mean() > 1.0
    with pytest.raises(ModelError, match=r"--strength 0\.0: must be in \(0, 1\]"):
        FaceXRenderer(FaceXOptions(strength=0.0), pipeline=tiny["pipe"])


def test_a_fresh_controller_copies_the_unet_encoder_and_adds_nothing() -> None:
    pipe = FaceXPipeline.build(FaceXConfig.tiny(), seed=0)
    encoder, copy = pipe.unet.down_blocks.state_dict(), pipe.controller.controlnet.down_blocks.state_dict()
    assert all(torch.equal(encoder[k], copy[k]) for k in encoder)
    rng = torch.Generator().manual_seed(0)
    latents = torch.randn((1, 4, 16, 16), generator=rng)
    tokens = pipe.controller.tokens(torch.randn((1, 128), generator=rng), latents)
    assert tokens.shape == (1, 2 + 2 * 2, 32)  # identity tokens + appearance grid, at cross-attention width
    cond = [torch.rand((1, 7, 64, 64), generator=rng) for _ in range(2)]
    with torch.no_grad():
        down, mid = pipe.controller(latents, 500, tokens, cond[0])
        assert max(float(r.abs().max()) for r in (*down, mid)) == 0.0  # zero-initialised outputs
        trained = as_if_trained(pipe)
        first, second = (trained.controller(latents, 500, tokens, c)[0][0] for c in cond)
    # it reads the condition (weakly through a random condition encoder; exactly the same output otherwise)
    assert float((first - second).abs().mean()) > 1e-3 * float(first.abs().mean())


def test_an_identity_of_another_encoder_names_the_flag(tiny, faces) -> None:
    import dataclasses

    a = swap(faces)
    arcface = dataclasses.replace(a, identity=dataclasses.replace(a.identity, embedding=np.ones(512, np.float32),
                                                                  encoder="arcface:w600k_r50.onnx"))
    renderer = FaceXRenderer(FaceXOptions(steps=STEPS), pipeline=tiny["pipe"])
    with pytest.raises(ModelError, match=r"trained on 128-D identity embeddings, the identity is 512-D from "
                                         r"arcface:w600k_r50\.onnx: pass the --identity-model it was trained with"):
        renderer.render(arcface, TrackState(0))
