import datetime as dt
from pathlib import Path

import pytest

from ccnb.params import Params, ParamsError, load_params, with_overrides

MINIMAL = """
client: Acme Shoes
transactions:
  path: data/sales.csv
"""


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_documented_and_applied(tmp_path):
    params = load_params(write(tmp_path, MINIMAL))
    assert params.slug == "acme-shoes"
    assert params.time_unit == "W"
    assert params.returns == "net"
    assert params.rfm.bins == 5 and params.rfm.scheme == "value_tiers"
    assert params.budget.target_ltv_cac == 3.0
    assert params.warm_up_days is None  # the churn window, capped at half the history
    for model in (Params, type(params.budget), type(params.rfm), type(params.transactions)):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_relative_paths_resolve_from_the_params_directory(tmp_path, monkeypatch):
    (tmp_path / "params").mkdir()
    path = write(tmp_path / "params", MINIMAL)
    monkeypatch.chdir("/")
    params = load_params(path)
    assert Path(params.transactions.path) == (tmp_path / "params" / "data" / "sales.csv")
    assert params.source_file == path.resolve()


def test_builtin_and_absolute_paths_are_kept(tmp_path):
    text = MINIMAL.replace("data/sales.csv", "builtin:demo")
    assert load_params(write(tmp_path, text)).transactions.path == "builtin:demo"
    text = MINIMAL.replace("data/sales.csv", "/srv/exports/sales.csv")
    assert load_params(write(tmp_path, text)).transactions.path == "/srv/exports/sales.csv"


def test_typo_names_the_closest_key(tmp_path):
    with pytest.raises(ParamsError) as error:
        load_params(write(tmp_path, MINIMAL + "obervation_end: 2024-01-01\n"))
    message = str(error.value)
    assert "unknown key 'obervation_end'" in message
    assert "did you mean 'observation_end'?" in message
    assert str(tmp_path / "acme.yaml") in message


def test_nested_typo_names_the_closest_key(tmp_path):
    text = MINIMAL + "  columns:\n    custmer_id: client_no\n"
    with pytest.raises(ParamsError, match=r"did you mean 'customer_id'\?"):
        load_params(write(tmp_path, text))
    with pytest.raises(ParamsError, match=r"did you mean 'max_lift'\?"):
        load_params(write(tmp_path, MINIMAL + "budget:\n  max_lfit: 0.3\n"))


def test_dates_and_ids_accept_quoted_and_unquoted_yaml(tmp_path):
    unquoted = MINIMAL + "observation_end: 2024-06-30\nslug: 0123\n"
    quoted = MINIMAL + "observation_end: '2024-06-30'\nslug: '0123'\n"
    for text in (unquoted, quoted):
        params = load_params(write(tmp_path, text))
        assert params.observation_end == dt.date(2024, 6, 30)
        assert params.slug == "0123"  # YAML 1.1 would read 0123 as the octal number 83


def test_yaml_no_stays_text_in_column_names(tmp_path):
    text = MINIMAL + "  columns:\n    customer_id: no\n    amount: on\n"
    params = load_params(write(tmp_path, text))
    assert params.transactions.columns.customer_id == "no"
    assert params.transactions.columns.amount == "on"
    assert load_params(write(tmp_path, MINIMAL + "pseudonymize_ids: true\n")).pseudonymize_ids


def test_unsafe_slug_is_rejected(tmp_path):
    for slug in ("../evil", "a/b", "..", "a\\\\b", ".hidden"):
        with pytest.raises(ParamsError, match="not a safe folder name"):
            load_params(write(tmp_path, MINIMAL + f"slug: '{slug}'\n"))


def test_overrides_are_merged_and_validated(tmp_path):
    path = write(tmp_path, MINIMAL + "budget:\n  total: 1000\n  max_lift: 0.3\n")
    params = load_params(path, time_unit="D", budget={"total": 2000})
    assert params.time_unit == "D"
    assert params.budget.total == 2000 and params.budget.max_lift == 0.3
    params = load_params(path, observation_end="2024-12-31")
    assert params.observation_end == dt.date(2024, 12, 31)
    with pytest.raises(ParamsError, match="with overrides") as error:
        load_params(path, time_unit="Y")
    assert "time_unit" in str(error.value)
    with pytest.raises(ParamsError, match="did you mean 'horizon_months'"):
        load_params(path, horizon_month=12)


def test_warm_up_days_is_zero_or_more(tmp_path):
    assert load_params(write(tmp_path, MINIMAL + "warm_up_days: 0\n")).warm_up_days == 0
    with pytest.raises(ParamsError, match="warm_up_days"):
        load_params(write(tmp_path, MINIMAL + "warm_up_days: -30\n"))


def test_calibration_must_precede_observation_end(tmp_path):
    text = MINIMAL + "observation_end: 2024-01-01\ncalibration_end: 2024-06-01\n"
    with pytest.raises(ParamsError, match="must be before"):
        load_params(write(tmp_path, text))


def test_amount_needs_a_mapping_or_quantity_and_price(tmp_path):
    text = MINIMAL + "  columns:\n    amount: null\n    quantity: qty\n"
    with pytest.raises(ParamsError, match="unit_price"):
        load_params(write(tmp_path, text))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(write(tmp_path, "client: [unclosed\n"))
    with pytest.raises(ParamsError, match="must hold a mapping"):
        load_params(write(tmp_path, "- a\n- b\n"))


def test_shipped_params_files_are_valid():
    root = Path(__file__).resolve().parents[1] / "params"
    demo = load_params(root / "demo.yaml")
    assert demo.slug == "demo" and demo.calibration_end == dt.date(2024, 12, 31)
    cdnow = load_params(root / "cdnow.yaml")
    assert cdnow.calibration_end == dt.date(1997, 9, 30) and cdnow.time_unit == "W"


def test_custom_segment_rules_load_and_are_validated(tmp_path):
    rules = (
        "rfm:\n  scheme: custom\n  rules:\n"
        "    - {name: Stars, tactic: reward, R: [4, 5], F: [4, 5]}\n"
        "    - {name: Everyone else}\n"
    )
    params = load_params(write(tmp_path, MINIMAL + rules))
    assert [rule["name"] for rule in params.rfm.rules] == ["Stars", "Everyone else"]
    with pytest.raises(ParamsError, match="did you mean 'R'"):
        load_params(write(tmp_path, MINIMAL + rules.replace("R: [4, 5]", "r: [4, 5]")))
    with pytest.raises(ParamsError, match="needs a non-empty `rules`"):
        load_params(write(tmp_path, MINIMAL + "rfm:\n  scheme: custom\n"))


def test_overrides_of_a_spark_client_keep_its_engine_valid():
    """A what-if on a Spark client: the DuckDB memory limit left at its default stays unset."""
    spark_params = load_params(Path(__file__).parents[1] / "params" / "demo-spark.yaml")
    changed = with_overrides(spark_params, rfm={"bins": 4})
    assert changed.rfm.bins == 4 and changed.engine == spark_params.engine
    assert "memory_limit" not in changed.engine.model_fields_set
    with pytest.raises(ParamsError, match="`memory_limit` is a DuckDB setting"):
        with_overrides(spark_params, engine={"memory_limit": "4GB"})
