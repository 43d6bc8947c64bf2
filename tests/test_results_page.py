"""RESULTS.md: each problem's table as the table builders make it from the records, and where each number comes
from; problems without records are marked as not run."""
import json
import re

import pytest

from helpers import results_page, run


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("WORKBOOK_FIGURES", str(tmp_path / "figures"))
    return tmp_path


def write_record(path, notebook, seed, metrics, commit="0123456789abcdef", artifacts=None, threads=None,
                 **parameters):
    record = {**({"threads": threads} if threads else {}), "notebook": notebook, "parameters": {**parameters, "profile": "smoke", "seed": seed, "data_root": ""},
              "profile": "smoke", "seed": seed, "commit": commit, "started": f"2030-01-0{seed + 1}T10:20:30+00:00",
              "metrics": metrics, "artifacts": artifacts or {}, "fid_features": "random ConvNet (seed 0)"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def dann_record(folder, source, target, seed, accs, **more):
    metrics = dict(zip(("acc_source_only", "acc_dann", "acc_target_only"), accs))
    return write_record(folder / "runs" / f"dann-{source}-{target}-smoke-seed{seed}.json", "dann", seed, metrics,
                        source=source, target=target, **more)


def sections(page):
    """The page's sections by title, each with its markdown tables (blocks of lines starting with '|')."""
    found = {}
    for part in page.split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        tables = re.findall(r"(?:^\|.*\n?)+", body, flags=re.M)
        found[title] = (body, [table.strip() for table in tables])
    return found


def test_each_problems_table_is_the_one_built_from_its_records_with_each_runs_provenance(folders):
    figure = folders / "figures" / "dann_mnist-mnistm_tsne.png"
    dann = [dann_record(folders, "mnist", "mnistm", 0, (0.5, 0.8, 0.97), commit="abcdef0123+dirty", threads=1,
                        artifacts={"dann_mnist-mnistm_tsne": str(figure), "dann_mnist-mnistm_table_md": "x.md"}),
            dann_record(folders, "mnist", "mnistm", 1, (0.6, 0.9, 0.98)),
            dann_record(folders, "synnum", "mnist", 0, (0.7, 0.6, 0.99))]
    dann[0].with_suffix(".ipynb").write_text("{}")
    gan = [write_record(folders / "runs" / "gan-smoke-seed0.json", "gan", 0,
                        {"fid_dcgan": 12.5, "seconds_train_dcgan": 3.0})]
    vae_expected = folders / "runs" / "vae-smoke-seed0.json"

    page = run.collect({"dann": dann, "gan": gan}, {"vae": [vae_expected]}).read_text()

    found = sections(page)
    assert [title.split(":")[0] for title in found] == [f"Problem {n}" for n in range(1, 6)]
    for name, paths in (("dann", dann), ("gan", gan)):
        body, tables = found[results_page.PROBLEMS[name].title]
        expected = run.TABLES[name](run.report.load_records(paths)).to_markdown()
        assert tables[0] == expected == (folders / "figures" / f"{name}_table.md").read_text().strip()
        assert len(tables[1].splitlines()) == 2 + len(paths)  # the runs: a row per record
    body, (_, runs) = found[results_page.PROBLEMS["dann"].title]
    header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in runs.splitlines()]
    first, second = (dict(zip(header, row)) for row in rows[:2])
    assert first["commit"] == "abcdef0+dirty" and second["commit"] == "0123456"
    assert first["threads"] == "1" and second["threads"] == "not recorded"
    assert (first["seed"], second["seed"], second["profile"]) == ("0", "1", "smoke")
    assert second["started (UTC)"] == "2030-01-02 10:20" and second["parameters"] == "source=mnist, target=mnistm"
    assert second["record"] == "[dann-mnist-mnistm-smoke-seed1.json](runs/dann-mnist-mnistm-smoke-seed1.json)"
    assert first["executed"] == "[ipynb](runs/dann-mnist-mnistm-smoke-seed0.ipynb)" and second["executed"] == "not kept"
    assert "![dann_mnist-mnistm_tsne](figures/dann_mnist-mnistm_tsne.png)" in body and "x.md" not in body
    for name in ("conditional", "uda", "vae"):
        body, tables = found[results_page.PROBLEMS[name].title]
        assert "**Not run**" in body and not tables
    assert "`runs/vae-smoke-seed0.json`" in found[results_page.PROBLEMS["vae"].title][0]


def test_a_record_without_provenance_is_refused_naming_its_file(folders):
    path = dann_record(folders, "mnist", "mnistm", 0, (0.5, 0.8, 0.97))
    record = json.loads(path.read_text())
    del record["commit"]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"mnist-mnistm-smoke-seed0.json lacks \['commit'\]"):
        run.collect({"dann": [path]}, {})


def test_results_only_rebuilds_the_page_from_the_matrixs_records_and_names_the_missing(folders, monkeypatch, capsys):
    monkeypatch.setattr(run, "default_runs", lambda: [("dann", {"source": "mnist", "target": "mnistm"}),
                                                      ("dann", {"source": "synnum", "target": "mnist"})])
    assert run.main(["--results-only", "--profile", "smoke"]) == 1  # no record yet: nothing written
    assert "no record" in capsys.readouterr().err and not results_page.default_path().exists()
    dann_record(folders, "mnist", "mnistm", 0, (0.5, 0.8, 0.97))
    assert run.main(["--results-only", "--profile", "smoke"]) == 0
    page = (folders / "RESULTS.md").read_text()
    assert "MNIST → MNIST-M" in page and "SynNumbers → MNIST" not in page
    assert "No record (the run failed or has not run yet): `runs/dann-synnum-mnist-smoke-seed0.json`" in page


def test_the_matrix_ends_with_the_page_naming_the_runs_that_failed(folders, monkeypatch):
    def execute(name, profile, seed, **parameters):
        if parameters["source"] == "synnum":
            raise run.RunFailed("synnum failed", None)
        return dann_record(folders, parameters["source"], parameters["target"], seed, (0.5, 0.8, 0.97))

    monkeypatch.setattr(run, "execute", execute)
    monkeypatch.setattr(run, "default_runs", lambda: [("dann", {"source": "mnist", "target": "mnistm"}),
                                                      ("dann", {"source": "synnum", "target": "mnist"})])
    assert run.matrix("smoke", [0]) == 1
    page = (folders / "RESULTS.md").read_text()
    assert "| Adaptation (DANN)" in page and "`runs/dann-synnum-mnist-smoke-seed0.json`" in page


def test_every_notebook_has_a_section_whose_text_holds_no_number_and_whose_notes_exist():
    assert list(results_page.PROBLEMS) == list(run.NOTEBOOKS)
    for problem in results_page.PROBLEMS.values():
        assert not re.search(r"\d", problem.text), problem.title
        assert (run.runtime.ROOT / problem.docs).is_file(), problem.docs
