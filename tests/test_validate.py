"""audit validate: every problem in one call, data headers included; the typed suite JSON Schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audit.cli import main
from audit.data.header import column_values, read_header
from audit.validation import gate_path_error, validate_suite

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "suites").glob("*.yaml"))
CSV = "id,age,Sex,income,risk\n1,30,f,100,good\n2,40,m,200,bad\n3,50,f,300,good\n"


def planted(folder: Path, **changes) -> Path:
    """A suite over a small CSV with four planted mistakes (each fixable by the hint given)."""
    (folder / "data.csv").write_text(CSV)
    doc = {
        "version": 1,
        "name": "planted",
        "data": {"path": "data.csv", "target": "risk", "positive_label": "Good", "sensitive": ["sex"]},
        "models": [{"name": "lr", "recipe": "logistic_regression"}],
        "checks": ["performance", {"name": "fairness", "params": {"bootstrp": 100}}],
        "gates": ["lr/performance/acuracy >= 0.7"],
        **changes,
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


FOUR = [
    "data.sensitive[0]: no column 'sex' in 'data.csv' (data.path); did you mean 'Sex'? columns: id, age, Sex, income, risk",
    "data.positive_label: 'Good' is not a value of 'risk' in 'data.csv' (data.path); did you mean 'good'? values: bad, good",
    "checks[1].params.bootstrp: unknown parameter; did you mean 'bootstrap'? accepted: bootstrap, confidence, min_group_size, columns, undefined_rates, small_groups",
    "gates[0].metric: no metric of check 'performance' matches 'acuracy'; did you mean 'accuracy'? available: accuracy, ",
]


def test_four_planted_mistakes_in_one_call(tmp_path, capsys):
    suite = planted(tmp_path)
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 4, err
    assert lines[0].startswith("audit: error: ")
    for line, expected in zip(lines, FOUR, strict=True):
        assert line.removeprefix("audit: error: ").startswith(f"{suite}: {expected}"), line


def test_problems_past_a_schema_error_are_still_reported(tmp_path):
    suite = planted(tmp_path, seed="yes", colour="blue")
    _, problems = validate_suite(suite)
    text = [str(p) for p in problems]
    assert f"{suite}: colour: unknown key (not allowed here)" in text
    assert sum(any(t.startswith(f"{suite}: {expected}") for t in text) for expected in FOUR) == 4, text


def test_no_data_skips_the_files(tmp_path, capsys):
    suite = planted(tmp_path, data={"path": "missing.csv", "target": "risk"}, checks=["performance"], gates=[])
    assert main(["validate", str(suite)]) == 2
    assert f"{suite}: data.path: 'missing.csv': data file not found" in capsys.readouterr().err
    assert main(["validate", "--no-data", str(suite)]) == 0


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_shipped_suites_validate(suite, capsys):
    assert main(["validate", str(suite)]) == 0, capsys.readouterr().err


def test_train_test_files_and_predictions_are_checked(tmp_path):
    (tmp_path / "train.csv").write_text("id,x,grp,y\n1,0.1,a,1\n2,0.2,b,0\n")
    (tmp_path / "test.csv").write_text("id,x,y\n3,0.3,1\n4,0.4,0\n")
    (tmp_path / "preds.csv").write_text("row,p1\n3,0.9\n4,0.2\n")
    doc = {
        "version": 1, "name": "files",
        "data": {"train": "train.csv", "test": "test.csv", "target": "y", "positive_label": 1, "sensitive": ["grp"], "id_column": "id"},
        "models": [{"name": "lr", "recipe": "logistic_regression"}, {"name": "ext", "predictions": {"path": "preds.csv", "key": "rowid", "score": "p1"}}],
        "checks": ["performance"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc))
    text = [str(p) for p in validate_suite(path)[1]]
    assert text == [
        f"{path}: data.sensitive[0]: no column 'grp' in 'test.csv' (data.test); columns: id, x, y",
        f"{path}: models[1].predictions.key: no column 'rowid' (the join key) in 'preds.csv'; did you mean 'row'? columns: row, p1",
    ]


def test_split_column_and_text_column(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"txt": "good", "label": "pos", "fold": "train"}\n{"txt": "bad", "label": "neg", "fold": "test"}\n')
    doc = {
        "version": 1, "name": "texts",
        "data": {"modality": "text", "path": "t.jsonl", "target": "label", "text_column": "text", "positive_label": "POS", "split": {"column": "folds"}},
        "models": [{"name": "tf", "recipe": "tfidf_logreg"}],
        "checks": ["performance"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc))
    text = [str(p).removeprefix(f"{path}: ") for p in validate_suite(path)[1]]
    assert text == [
        "data.text_column: no column 'text' in 't.jsonl' (data.path); did you mean 'txt'? columns: txt, label, fold",
        "data.split.column: no column 'folds' in 't.jsonl' (data.path); did you mean 'fold'? columns: txt, label, fold",
        "data.positive_label: 'POS' is not a value of 'label' in 't.jsonl' (data.path); did you mean 'pos'? values: neg, pos",
    ]


def test_header_reader_csv_bom_parquet_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.csv").write_bytes("\ufeffname,y\nx,True\nz,false\n".encode())
    header = read_header(tmp_path / "a.csv")
    assert header.columns == ["name", "y"] and header.problem is None
    assert column_values(header, "y") == ["False", "True"]  # as pandas reads them
    pq.write_table(pa.table({"k": [1, 2, 2], "label": ["a", "b", None]}), tmp_path / "b.parquet")
    header = read_header(tmp_path / "b.parquet")
    assert header.columns == ["k", "label"] and column_values(header, "label") == ["a", "b"]
    (tmp_path / "c.jsonl").write_text('{"t": "hi", "y": 1}\n\n{"t": "yo", "y": 0}\n')
    assert column_values(read_header(tmp_path / "c.jsonl"), "y") == ["0", "1"]
    (tmp_path / "d.csv").write_text("a,b,a\n1,2,3\n")
    assert "names column 'a' 2 times" in read_header(tmp_path / "d.csv").problem
    assert read_header(tmp_path).problem == "is a folder, not a regular file"
    assert read_header(tmp_path, image=True).problem is None  # an image folder
    assert read_header(tmp_path / "d.txt").problem == "data file not found"


def test_header_checks_import_no_pandas():
    code = "import sys, audit.data.preflight, audit.validation; print(sorted(m for m in ('pandas', 'numpy', 'torch', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def implementations():
    from audit.registry import CHECKS

    return CHECKS.implementations()


@pytest.mark.parametrize("impl", implementations(), ids=lambda i: f"{i[0]}-{i[1]}-{i[2]}")
def test_every_builtin_check_resolves_gates(impl):
    from audit.checks.base import metric_specs

    name, _, _, cls = impl
    declared = sorted(metric_specs(cls))
    owner = "data" if cls.scope == "data" else "m"
    pairs = [(owner, name, cls)]
    assert declared
    for metric in declared:
        assert gate_path_error(f"{owner}/{name}/{metric}", pairs, ["m"]) is None
        assert gate_path_error(f"*/{name}/{metric}[any]", pairs, ["m"]) is None
    typo = declared[0][:-1] + "x"
    message = gate_path_error(f"{owner}/{name}/{typo}", pairs, ["m"])
    if typo not in declared:
        assert message is not None and message.startswith(f"no metric of check '{name}' matches '{typo}'; did you mean '{declared[0]}'?")


# -- the JSON Schema ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict:
    from audit.schema_json import suite_json_schema

    return suite_json_schema()


def test_schema_has_id_and_draft(schema, capsys):
    assert schema["$id"] == "https://audit.dev/schemas/suite-1.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["$id"] == schema["$id"]


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_shipped_suites_match_the_schema(schema, suite):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(suite.read_text())))
    assert not errors, [e.message[:200] for e in errors]


def test_schema_types_check_and_recipe_params(schema):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    doc = yaml.safe_load((ROOT / "suites" / "credit.yaml").read_text())
    assert validator.is_valid(doc)
    bad_param = json.loads(json.dumps(doc))
    bad_param["checks"][0]["params"] = {"bootstrp": 10}
    assert not validator.is_valid(bad_param)
    bad_variant_param = json.loads(json.dumps(doc))
    bad_variant_param["checks"][-1]["params"]["bootstrap"] = 10  # privacy/anonymity has no bootstrap
    assert not validator.is_valid(bad_variant_param)
    bad_recipe = json.loads(json.dumps(doc))
    bad_recipe["models"][0]["params"] = {"c": 1.0}
    assert not validator.is_valid(bad_recipe)
    bad_gate = json.loads(json.dumps(doc))
    bad_gate["gates"][0] = "*/performance/roc_auc >> 0.7"
    assert not validator.is_valid(bad_gate)


def test_check_jsonschema_cli(schema, tmp_path):
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(exe).exists():
        pytest.skip("check-jsonschema (dev extra) is not installed")
    schema_file = tmp_path / "suite.schema.json"
    schema_file.write_text(json.dumps(schema))
    good = subprocess.run([exe, "--schemafile", str(schema_file), *map(str, SUITES)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = planted(tmp_path)
    result = subprocess.run([exe, "--schemafile", str(schema_file), str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "checks[1]" in result.stdout.replace("$.checks[1]", "checks[1]") + result.stderr, result.stdout


def test_load_suite_check_data_raises_every_problem(tmp_path):
    from audit.errors import ConfigError
    from audit.suite import load_suite

    suite = planted(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_suite(suite)  # the schema-only path does not open the data
    assert len(str(err.value).splitlines()) == 2
    with pytest.raises(ConfigError) as err:
        load_suite(suite, check_data=True)
    assert len(str(err.value).splitlines()) == 4


def test_list_params_shows_each_checks_parameters(capsys):
    assert main(["list", "--params"]) == 0
    out = capsys.readouterr().out
    assert "  privacy [anonymity] on tabular: quasi_identifiers (required), " in out
    assert "  logistic_regression: C=1.0, max_iter=1000, class_weight=None" in out
