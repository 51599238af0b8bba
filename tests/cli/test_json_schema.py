"""Every ``--json`` output is one versioned object that its JSON Schema (schemas/KIND.json, draft
2020-12) accepts; the schemas themselves are valid and catch documents that break them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("torch")

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from gradproof.cli import main

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ROOT = Path(__file__).resolve().parents[2]
LAYERS = Path(__file__).parents[1] / "verify" / "layers"
AFFINE = ["affine", "--shape", "x=N,D", "--shape", "w=D,M", "--shape", "b=M", "--size", "N=1:3,D=1:3,M=1:3",
          "--examples", "4"]
MSE = ["--expr", "L = sum((X W - Y) ⊙ (X W - Y))", "--shape", "X=n,d", "--shape", "W=d,k", "--shape", "Y=n,k",
       "--wrt", "W"]


def _schemas() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(SCHEMAS.glob("*.json"))}


REGISTRY = Registry().with_resources([(doc["$id"], Resource.from_contents(doc)) for doc in _schemas().values()])


def validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(_schemas()[kind], registry=REGISTRY)


def validate(document: dict[str, Any]) -> str:
    """Validate against the schema the document names; returns its kind."""
    assert document["version"] == 1
    kind = document["schema"].removeprefix("gradproof/")
    validator(kind).validate(document)
    return kind


def run_json(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> dict[str, Any]:
    assert main(list(argv)) == status
    out = capsys.readouterr().out
    document = json.loads(out)  # one JSON document and nothing else on stdout
    assert isinstance(document, dict)
    return document


@pytest.fixture(autouse=True)
def _problem_files_unregistered_after() -> Any:
    """`problems --set` and `grade FILE.toml` register a file's problems in this process; other tests (and
    doctests listing ids) must not see them."""
    from verify.homework.problem_file import CHECKED
    from verify.homework.problems import PROBLEMS

    before, checked = set(dict.keys(PROBLEMS)), set(CHECKED)
    yield
    for pid in set(dict.keys(PROBLEMS)) - before:
        dict.__delitem__(PROBLEMS, pid)
    CHECKED.intersection_update(checked)


def test_every_schema_is_valid_draft_2020_12_with_an_id_and_descriptions() -> None:
    schemas = _schemas()
    expected = {"defs", "list", "derive", "verify", "problems", "check", "check-layer", "graph", "error", "report",
                "report-document", "rules", "grade"}
    assert set(schemas) == expected
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/{name}.json") and schema["description"]
        if name != "defs":
            assert schema["properties"]["schema"] == {"const": f"gradproof/{name}"}


@pytest.mark.parametrize(("argv", "kind"), [
    (["list", "--json"], "list"),
    (["derive", "information", "--json"], "derive"),
    (["derive", "perceptron", "rmsnorm", "--json"], "derive"),  # a catalog entry and a forward entry
    (["derive", *MSE, "--json"], "derive"),
    (["problems", "--json"], "problems"),
    (["problems", "--reveal", "--json"], "problems"),
    (["problems", "--set", str(ROOT / "examples" / "problems.toml"), "--json"], "problems"),  # the file's own ids
    (["check", "softmax_ce:grad_z", "p_i - y_i", "--json"], "check"),
    (["check", "softmax_ce:grad_z", "y_i - p_i", "--json"], "check"),
    (["check-layer", str(LAYERS / "right_layers.py"), *AFFINE, "--json"], "check-layer"),
    (["graph", "information", "--adjoints", "--json"], "graph"),
    (["verify", "information:dKL/dq", "--examples", "2", "--json"], "verify"),
    (["verify", "softmax_ce:d2L/dz2", "--examples", "2", "--json"], "verify"),  # with skipped checks
    (["verify", *MSE, "--examples", "2", "--json"], "verify"),
    (["rules", "--json"], "rules"),
])
def test_each_command_prints_one_document_its_schema_accepts(argv: list[str], kind: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(run_json(capsys, *argv)) == kind


def test_grading_a_class_and_one_student_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    problems, answers = ROOT / "examples" / "problems.toml", ROOT / "examples" / "answers.csv"
    document = run_json(capsys, "grade", str(problems), str(answers), "-o", str(tmp_path / "class"), "--workers", "1",
                        "--json")
    assert validate(document) == "grade" and document["whole_class"] == {"correct": 3, "incorrect": 2, "invalid": 1}
    assert Path(document["results"]).is_file() and document["answers"] == 6
    single = tmp_path / "ann.csv"
    single.write_text("problem,answer\nhw3.softmax_grad,p_i - y_i\n", encoding="utf-8")
    document = run_json(capsys, "grade", str(problems), "--single", str(single), "-o", str(tmp_path / "ann"), "--json")
    assert validate(document) == "grade" and document["single"] is True and document["score"] == 1


def test_a_failing_layer_check_is_valid_too(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADPROOF_FAILURES", str(tmp_path))
    document = run_json(capsys, "check-layer", str(LAYERS / "wrong_layers.py"), *AFFINE, "--json", status=1)
    assert validate(document) == "check-layer" and document["passed"] is False


def test_one_entry_and_several_have_the_same_shape(capsys: pytest.CaptureFixture[str]) -> None:
    one = run_json(capsys, "derive", "perceptron", "--json")
    two = run_json(capsys, "derive", "perceptron", "information", "--json")
    assert set(one) == set(two) == {"schema", "version", "ok", "entries"}
    assert [e["name"] for e in one["entries"]] == ["perceptron"]
    assert [e["name"] for e in two["entries"]] == ["perceptron", "information"]
    assert one["entries"][0] == two["entries"][0]


def test_skipped_checks_measure_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    document = run_json(capsys, "verify", "softmax_ce:d2L/dz2", "--examples", "2", "--json")
    skipped = [r for r in document["records"] if r["status"] == "skipped"]
    assert skipped and document["summary"]["skipped"] == len(skipped)
    assert all(r["max_abs_error"] is None and r["skipped"] for r in skipped)


def test_graph_to_a_json_file_is_the_same_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "kl.json"
    assert main(["graph", "information", "-o", str(target)]) == 0
    document = json.loads(target.read_text())
    assert validate(document) == "graph"
    assert document == run_json(capsys, "graph", "information", "--json")


def test_report_json_and_its_documents(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    summary = run_json(capsys, "report", "information", "--format", "json", "--examples", "2", "-o", str(tmp_path),
                       "--json")
    assert validate(summary) == "report"
    assert summary["entries"] == [{"name": "information", "ok": True, "files": ["information.json"]}]
    document = json.loads((tmp_path / "information.json").read_text())
    assert validate(document) == "report-document"
    assert all(isinstance(c["tolerance"]["atol"], float) and isinstance(c["sizes"], dict) for c in document["checks"])


def _verify_document() -> dict[str, Any]:
    record = {"entry": "information", "target": "dKL/dq", "route": "matrix", "device": "cpu", "dtype": "float64",
              "examples": 2, "max_abs_error": 1e-17, "max_rel_error": 1e-16,
              "tolerance": {"atol": 1e-10, "rtol": 1e-10, "spread": 16.0, "text": "atol 1e-10 x scale ..."},
              "seed": None, "passed": True, "status": "passed", "skipped": None, "sizes": {"n": [1, 6]},
              "mode": "full", "worst_input": {}, "note": "", "claim": "information:grad_q"}
    return {"schema": "gradproof/verify", "version": 1, "ok": True,
            "summary": {"passed": 1, "failed": 0, "skipped": 0}, "records": [record]}


def _break(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(_verify_document())
    where = document
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    return document


@pytest.mark.parametrize("broken", [
    _break(("version",), 2),
    _break(("schema",), "gradproof/derive"),
    _break(("records", 0, "tolerance"), "atol 1e-10 x scale + rtol 1e-10 x |autograd|"),  # prose, not data
    _break(("records", 0, "sizes"), "n in [1, 6]"),
    _break(("records", 0, "passed"), None),  # skipped, yet an error of 1e-17 and no reason
    _break(("records", 0, "max_abs_error"), -1.0),
    _break(("records", 0, "route"), "sideways"),
    _break(("summary",), {"passed": 1}),
])
def test_a_document_that_breaks_the_schema_is_caught(broken: dict[str, Any]) -> None:
    validator("verify").validate(_verify_document())  # the unbroken one passes
    with pytest.raises(jsonschema.ValidationError):
        validator("verify").validate(broken)


@pytest.mark.parametrize("broken", [
    [{"name": "information"}],  # the old derive --all: a bare list
    {"schema": "gradproof/derive", "version": 1, "ok": True, "entries": [{"name": "information"}]},
    {"schema": "gradproof/error", "version": 1, "error": "two\nlines", "exit_status": 2},
    {"schema": "gradproof/error", "version": 1, "exit_status": 2},
])
def test_other_broken_documents_are_caught(broken: Any) -> None:
    kind = "derive" if not isinstance(broken, dict) else broken["schema"].removeprefix("gradproof/")
    with pytest.raises(jsonschema.ValidationError):
        validator(kind).validate(broken)


def test_a_forward_report_as_json_is_a_report_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An expression's report carries a field named 'kind': the envelope keeps it beside its own."""
    summary = run_json(capsys, "report", *MSE, "--name", "mse", "--format", "json", "--examples", "2",
                       "-o", str(tmp_path), "--json")
    assert validate(summary) == "report" and summary["entries"][0]["files"] == ["mse.json"]
    document = json.loads((tmp_path / "mse.json").read_text())
    assert validate(document) == "report-document" and "kind" in document
