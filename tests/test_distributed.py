"""The matrix on Dask distributed: a local cluster's workers run the notebooks, their files come back here."""
import json
import os

import dask
import pytest

from helpers import distributed, run


def test_a_local_cluster_has_a_worker_per_gpu_pinned_to_it_or_single_threaded_cpu_workers():
    assert distributed.worker_envs(2, gpus=0, cores=8) == [{"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}] * 2
    assert distributed.worker_envs(2, gpus=4, cores=8) == [
        {"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"},
        {"CUDA_VISIBLE_DEVICES": "1", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}]
    with pytest.raises(distributed.ClusterError, match="--workers 3: this machine has 2 GPUs"):
        distributed.worker_envs(3, gpus=2, cores=8)


def test_auto_workers_are_one_per_gpu_else_one_per_core():
    assert distributed.workers_for("auto", gpus=2, cores=16, jobs=10) == 2
    assert distributed.workers_for("auto", gpus=0, cores=2, jobs=10) == 2
    assert distributed.workers_for("auto", gpus=0, cores=64, jobs=10) == 10  # no idle workers
    assert distributed.workers_for(3, gpus=0, cores=2, jobs=10) == 3


def test_a_run_on_a_worker_leaves_out_the_malloc_setting_of_dasks_nanny(monkeypatch):
    nanny_sets = dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"]
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(nanny_sets))  # as in a worker the nanny started
    with run.environ(**distributed.kernel_environ("/elsewhere")):
        assert "MALLOC_TRIM_THRESHOLD_" not in os.environ and os.environ["WORKBOOK_RUNS"] == "/elsewhere/runs"
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(nanny_sets)


def test_a_local_clusters_workers_run_without_dasks_profiler_and_with_slow_ticks():
    with distributed.connect(1, jobs=1) as client:
        settings = client.run(lambda: {key: dask.config.get(key) for key in distributed.QUIET})
    assert list(settings.values()) == [distributed.QUIET]
    assert dask.config.get("distributed.worker.profile.enabled")  # set only while the cluster runs


@pytest.mark.parametrize("args,message", [
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "give one of them"),
    (["--workers", "0"], "--workers 0: the local cluster needs 1 worker or more"),
    (["--workers", "all"], "--workers: 'all': expected a whole number of workers or 'auto'"),
    (["dann", "--workers", "2"], "go with the matrix"),
    (["--results-only", "--scheduler", "tcp://127.0.0.1:8786"], "go with the matrix"),
])
def test_bad_cluster_options_are_refused_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        run.main(args)
    assert stopped.value.code == 2 and message in capsys.readouterr().err.splitlines()[-1]


def test_the_matrix_on_two_local_workers_runs_in_order_brings_every_run_back_and_reports_a_failure(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("WORKBOOK_FIGURES", str(tmp_path / "figures"))
    submitted, running_then = [], []
    submit = distributed.Client.submit

    def counting_submit(client, *args, **kwargs):  # how many runs were still going when each was submitted
        running_then.append(sum(not future.done() for future in submitted))
        submitted.append(submit(client, *args, **kwargs))
        return submitted[-1]

    monkeypatch.setattr(distributed.Client, "submit", counting_submit)
    monkeypatch.setattr(run, "default_runs", lambda: [
        ("gan", {"methods": "dcgan"}),
        ("dann", {"source": "nosuchdomain", "target": "mnist"}),
        ("dann", {"source": "mnist", "target": "nosuchdomain"}),  # starts after the first failure: the jobs' order
        ("vae", {}),  # compares its samples with the GAN's images: they reach its worker
    ])
    assert run.main(["--profile", "smoke", "--workers", "2"]) == 1
    out, err = capsys.readouterr()
    assert "failed in cell [" in err and "nosuchdomain" in err
    assert f"see the executed notebook {tmp_path / 'runs' / 'dann-nosuchdomain-mnist-smoke-seed0.ipynb'}" in err
    assert "[4 done, 0 running, 0 left]" in err and "in all" in err
    assert len(submitted) == 4 and max(running_then) <= 1  # never more runs out than the 2 workers take
    started = [line for line in err.splitlines() if " started dann " in line]
    assert "'source': 'nosuchdomain'" in started[0] and "'target': 'nosuchdomain'" in started[1]
    assert (tmp_path / "runs" / "dann-nosuchdomain-mnist-smoke-seed0.ipynb").exists()
    assert "DCGAN (problem 1)" in (tmp_path / "figures" / "vae_table.md").read_text()  # the VAE saw the GAN's images
    assert "DCGAN" in (tmp_path / "figures" / "gan_table.md").read_text()
    page = (tmp_path / "RESULTS.md").read_text()
    assert "gan-dcgan-smoke-seed0.json" in page and "dann-nosuchdomain-mnist-smoke-seed0.json" in page
    for name in ("gan-dcgan-smoke-seed0.json", "vae-smoke-seed0.json"):
        artifacts = json.loads((tmp_path / "runs" / name).read_text())["artifacts"]
        assert artifacts and all(path.startswith(str(tmp_path)) for path in artifacts.values())
        assert all((tmp_path / path).exists() for path in artifacts.values())
