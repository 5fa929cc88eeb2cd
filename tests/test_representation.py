"""The FacialRepresentation <-> Arrow/Parquet contract: lossless round trip, units in the schema."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

from facex_video.ford.representation import (
    MASK_NAMES,
    Environment,
    FacialRepresentation,
    Gaze,
    HeadPose,
    Identity,
    IntraPersonal,
    arrow_schema,
    from_table,
    to_table,
)


def random_representation(rng: np.random.Generator, dim: int = 128, frame: int = 0) -> FacialRepresentation:
    f32 = np.float32
    return FacialRepresentation(
        source="clip.mp4",
        frame_index=frame,
        timestamp=frame / 25,
        track_id=int(rng.integers(0, 5)),
        box=rng.uniform(0, 500, 4).astype(f32),
        identity=Identity(rng.normal(size=dim).astype(f32), "dlib_resnet_v1", rng.normal(size=(478, 3)).astype(f32)),
        intra=IntraPersonal(
            expression=rng.uniform(size=52).astype(f32),
            pose=HeadPose(*rng.normal(size=3).tolist(), translation=rng.normal(size=3).astype(f32), scale=1.3),
            gaze=Gaze(*rng.normal(size=4).tolist()),
            landmarks_image=rng.uniform(0, 800, (478, 3)).astype(f32),
            landmarks_3d=rng.normal(size=(478, 3)).astype(f32),
        ),
        environment=Environment(
            lighting_sh=rng.normal(size=(9, 3)).astype(f32),
            masks={n: rng.uniform(size=(512, 512)) > 0.5 for n in MASK_NAMES},
            crop_transform=rng.normal(size=(2, 3)),
        ),
        extras={"crop_jpeg": b"\xff\xd8 not really a jpeg"},
    )


def assert_equal(a, b, path: str = "rep") -> None:
    """Field-by-field equality of nested dataclasses, arrays (exact, with dtype) and dicts."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            assert_equal(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_equal(a[k], b[k], f"{path}[{k}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), path
    else:
        assert a == b, path


@pytest.mark.parametrize("dim", [128, 512])
def test_parquet_round_trip_is_lossless(tmp_path, dim):
    rng = np.random.default_rng(dim)
    reps = [random_representation(rng, dim, frame) for frame in range(3)]
    pq.write_table(to_table(reps), tmp_path / "reps.parquet")
    back = from_table(pq.read_table(tmp_path / "reps.parquet"))
    assert len(back) == 3
    for a, b in zip(reps, back):
        assert_equal(a, b)


def test_schema_carries_units_and_fixed_sizes():
    schema = arrow_schema(128)
    assert schema.field("yaw").metadata[b"unit"] == b"deg"
    assert schema.field("landmarks_3d").metadata[b"unit"] == b"cm"
    assert schema.field("landmarks_image").type.list_size == 478
    assert schema.field("landmarks_image").type.value_type.list_size == 3
    assert schema.field("identity_embedding").type.list_size == 128
    assert all(schema.field(f"mask_{n}").metadata[b"unit"] == b"PNG" for n in MASK_NAMES)
