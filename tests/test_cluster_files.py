"""The cluster manifests parse, ask for GPUs where the edit actors run, and name entry points that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "cluster"


def test_manifests_parse_and_have_a_gpu_worker_group():
    launcher = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    assert launcher["available_node_types"]["gpu_workers"]["resources"]["GPU"] >= 1
    for name in ("kuberay-raycluster.yaml", "kuberay-rayjob.yaml"):
        doc = yaml.safe_load((CLUSTER / name).read_text())
        spec = doc["spec"].get("rayClusterSpec", doc["spec"])
        limits = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1" and spec["rayVersion"] == "2.60.0"
    assert yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())["working_dir"] == "."


def test_every_job_script_the_docs_submit_exists_and_takes_the_cli_flags():
    text = (CLUSTER / "README.md").read_text() + (CLUSTER / "kuberay-rayjob.yaml").read_text()
    scripts = set(re.findall(r"python (jobs/\w+\.py)", text))
    assert {"jobs/reenact.py", "jobs/swap.py", "jobs/edit.py", "jobs/batch.py"} <= scripts | set(
        re.findall(r"`(jobs/\w+\.py)", text))
    for script in scripts:
        assert (ROOT / script).is_file()
    for flag in re.findall(r"(--actors|--gpus-per-actor)", text):
        assert flag in (ROOT / "facex_video" / "cli" / "flags.py").read_text()
