"""The set-up files agree with each other and with the README."""
import re
import tomllib

from helpers import runtime


def test_environment_yml_lists_the_dependencies_of_pyproject():
    project = tomllib.loads((runtime.ROOT / "pyproject.toml").read_text())["project"]
    wanted = {re.split(r"[<>=\[ ]", d)[0].lower() for d in
              project["dependencies"] + project["optional-dependencies"]["test"]}
    conda_names = {"torch": "pytorch"}
    listed = set(re.findall(r"^  - ([A-Za-z0-9_.-]+)\s*$", (runtime.ROOT / "environment.yml").read_text(), re.M))
    assert {conda_names.get(name, name) for name in wanted} <= listed


def test_ci_runs_the_readmes_test_command():
    readme = (runtime.ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    assert "make test" in (runtime.ROOT / ".ci" / "run").read_text()


def test_the_readme_is_a_short_users_guide_that_links_the_generated_results():
    readme = (runtime.ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert not re.search(r"\b(sessions?|issues?)\b", readme, re.IGNORECASE)
    assert "make report" in readme and "make test" in readme and "](RESULTS.md)" in readme
    result_cells = [line for line in readme.splitlines() if line.startswith("|") and re.search(r"\d\.\d", line)]
    assert not result_cells, "a README table holds measured numbers; they belong in RESULTS.md, written from records"
