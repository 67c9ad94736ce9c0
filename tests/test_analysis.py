"""ClientAnalysis: tables kept in a cache folder are the same tables, computed once."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

import ccnb
from ccnb.analysis import CACHE_DIR_VARIABLE, ClientAnalysis, Unavailable, cache_key


@pytest.fixture(scope="module")
def cdnow_params():
    return ccnb.load_params("params/cdnow.yaml")


def test_cached_tables_equal_computed_ones_and_need_no_data(cdnow_params, tmp_path):
    first = ClientAnalysis(cdnow_params, cache_dir=tmp_path)
    unavailable = first.precompute()
    # what is kept in the folder is not also kept in memory: a table at a time is held
    assert not set(ClientAnalysis.table_names()) & set(first._values)
    assert "data" in first._values  # the engine (and the validated rows in it) stays open
    again = ClientAnalysis(cdnow_params, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again.summary, first.summary)
    pd.testing.assert_frame_equal(again.predictions.table, first.predictions.table)
    np.testing.assert_array_equal(
        np.asarray(again.predictions.rclv_draws), np.asarray(first.predictions.rclv_draws)
    )
    assert again.quality.to_dict() == first.quality.to_dict()
    assert again.observation_end == first.observation_end
    assert again.validation.chosen == first.validation.chosen
    assert "data" not in again._values  # nothing was loaded or recomputed
    # tables this client cannot have come back as the same sentence
    assert "new_customer_value" in unavailable
    with pytest.raises(Unavailable) as raised:
        _ = again.new_customer_value
    assert str(raised.value) == unavailable["new_customer_value"]
    assert "data" not in again._values


def test_precompute_stops_before_the_next_table_once_told(cdnow_params, tmp_path):
    """A batch run stops the tables thread when its notebooks are done: the tables after that
    point are neither computed nor stored (here the stop comes after the first three)."""
    import threading

    class AfterChecks(threading.Event):
        def __init__(self, allowed: int) -> None:
            super().__init__()
            self.allowed = allowed

        def is_set(self) -> bool:
            self.allowed -= 1
            return self.allowed < 0

    analysis = ClientAnalysis(cdnow_params, cache_dir=tmp_path)
    assert analysis.precompute(stop=AfterChecks(3)) == {}
    (folder,) = tmp_path.iterdir()
    stored = {path.stem for path in folder.glob("*.pickle")}
    first = ClientAnalysis.table_names()[:3]
    assert set(first) <= stored
    assert "predictions" not in stored and "allocations" not in stored
    assert len(stored) < len(ClientAnalysis.table_names())


def test_every_table_is_listed_once_and_stored_in_one_folder(cdnow_params, tmp_path):
    analysis = ClientAnalysis(cdnow_params, cache_dir=tmp_path)
    names = ClientAnalysis.table_names()
    assert len(names) == len(set(names))
    assert {"quality", "summary", "predictions", "allocations"} <= set(names)
    assert "data" not in names  # an engine connection: never stored
    _ = analysis.kpis
    (folder,) = tmp_path.iterdir()
    # the KPIs and what they are computed from: the windows (from the quality report's first
    # date and observation_end) and the customers' activity
    assert sorted(path.name for path in folder.iterdir()) == [
        "customer_activity.pickle",
        "kpis.pickle",
        "observation_end.pickle",
        "quality.pickle",
        "windows.pickle",
    ]


def test_changed_parameters_get_their_own_tables(cdnow_params, tmp_path):
    changed = ccnb.load_params(
        "params/cdnow.yaml", churn_window_days=cdnow_params.churn_window_days + 30
    )
    assert cache_key(changed) != cache_key(cdnow_params)
    _ = ClientAnalysis(cdnow_params, cache_dir=tmp_path).customer_flow
    fresh = ClientAnalysis(changed, cache_dir=tmp_path).customer_flow
    expected = ClientAnalysis(changed).customer_flow
    pd.testing.assert_frame_equal(fresh, expected)
    assert len(list(tmp_path.iterdir())) == 2


def test_the_environment_variable_names_the_folder(cdnow_params, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path))
    _ = ClientAnalysis(cdnow_params).kpis
    assert (tmp_path / cache_key(cdnow_params) / "kpis.pickle").exists()
    monkeypatch.setenv(CACHE_DIR_VARIABLE, "")
    assert ClientAnalysis(cdnow_params)._store.folder is None


def test_a_reader_waits_for_the_table_another_analysis_is_computing(cdnow_params, tmp_path):
    writer = ClientAnalysis(cdnow_params, cache_dir=tmp_path)
    reader = ClientAnalysis(cdnow_params, cache_dir=tmp_path)
    marker = tmp_path / cache_key(cdnow_params) / ".computing"
    thread = threading.Thread(target=writer.precompute)
    thread.start()
    while not marker.exists() and thread.is_alive():
        time.sleep(0.001)
    allocation = reader.allocations["customer-focused"]
    assert "data" not in reader._values  # waited for the writer instead of computing
    thread.join()
    pd.testing.assert_frame_equal(allocation.table, writer.allocations["customer-focused"].table)
    assert not marker.exists()


def test_reading_stored_tables_imports_neither_the_engine_nor_lifetimes(cdnow_params, tmp_path):
    """What makes a batch kernel start fast: no Ibis/DuckDB, lifetimes, seaborn, nor scipy's
    optimisers and distributions (0.5 s) to import (only the fitted models themselves, shown by
    the CLV notebook, need lifetimes)."""
    ClientAnalysis(cdnow_params, cache_dir=tmp_path).precompute()
    script = (
        "import sys, ccnb\n"
        "from ccnb import report\n"
        "params = ccnb.load_params('params/cdnow.yaml')\n"
        f"analysis = ccnb.ClientAnalysis(params, cache_dir={str(tmp_path)!r})\n"
        "report.data_quality(analysis); report.segments(analysis); report.retention(analysis)\n"
        "analysis.predictions; analysis.customer_equity; analysis.allocations\n"
        "heavy = ('ibis', 'duckdb', 'lifetimes', 'seaborn', 'scipy.optimize', 'scipy.stats')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_stored_predictions_are_the_class_the_cuts_take(cdnow_params, tmp_path):
    """Unpickling a stored result imports its module the ordinary way: one class, not two
    (a lazily loading ccnb.clv package in sys.modules made Python 3.11 execute
    ccnb.clv.results twice, and the cuts then rejected their own Predictions)."""
    ClientAnalysis(cdnow_params, cache_dir=tmp_path).precompute()
    script = (
        "import ccnb\n"
        "params = ccnb.load_params('params/cdnow.yaml')\n"
        f"analysis = ccnb.ClientAnalysis(params, cache_dir={str(tmp_path)!r})\n"
        "predictions = analysis.predictions\n"
        "equity = ccnb.clv.customer_equity(predictions)\n"
        "print(round(equity.value, 6) == round(analysis.customer_equity.value, 6))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ
    )
    assert result.stdout.strip() == "True", result.stderr


def test_a_marker_left_by_a_dead_process_is_not_waited_for(cdnow_params, tmp_path):
    """A run killed while computing leaves its marker; readers compute rather than hang."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    folder = tmp_path / cache_key(cdnow_params)
    folder.mkdir()
    (folder / ".computing").write_text(dead.stdout.strip())
    kpis = ClientAnalysis(cdnow_params, cache_dir=tmp_path).kpis
    pd.testing.assert_frame_equal(kpis, ClientAnalysis(cdnow_params).kpis)


def test_a_failed_spend_fit_says_what_spend_does_not_show(steady_buyers_export):
    """The spend model's reason is about spend, not about buying and stopping."""
    from ccnb.analysis import _model_unavailable

    error = ccnb.errors.FitError(None, "Gamma-Gamma fit on 400 customers did not converge")
    failure = _model_unavailable(
        error,
        subject="the spend model needs",
        failed="the spend model",
        unclear="how much the spend per purchase differs from one customer to the next",
    )
    assert failure.reason == (
        "Customer value cannot be predicted: the spend model could not be fitted reliably to "
        "this history, which does not show clearly enough how much the spend per purchase "
        "differs from one customer to the next."
    )
    assert failure.detail.startswith("FitError: Gamma-Gamma fit on 400 customers did not")
    # the steady buyers' spend differs between customers: only the purchase models fail
    analysis = ClientAnalysis(ccnb.load_params(steady_buyers_export()))
    assert analysis.spend_model.params_["q"] > 0
    with pytest.raises(ccnb.errors.ModelUnavailable) as raised:
        _ = analysis.validation
    assert "the purchase models could not be fitted reliably" in raised.value.reason


def test_a_failed_fit_is_tried_once_and_kept_with_its_reason(steady_buyers_export, tmp_path):
    """The cache keeps a failed fit's reader sentence, reason and technical detail."""
    params = ccnb.load_params(steady_buyers_export())
    first = ClientAnalysis(params, cache_dir=tmp_path)
    with pytest.raises(ccnb.errors.ModelUnavailable) as raised:
        _ = first.customer_equity
    failure = raised.value
    # a second section in the same analysis does not fit again: the failure is kept
    with pytest.raises(ccnb.errors.ModelUnavailable) as again_raised:
        _ = first.predictions
    assert again_raised.value is failure
    # another process reading the cache (a notebook kernel) sees the same failure, unfitted
    reader = ClientAnalysis(params, cache_dir=tmp_path)
    # the refit on the whole history needs the validation's choice, so it failed with it;
    # the spend model was never needed
    assert reader.model_failures().keys() == {"validation", "purchase_model"}
    kept = reader.model_failures()["validation"]
    assert (str(kept), kept.reason, kept.detail) == (str(failure), failure.reason, failure.detail)
    assert kept.detail.startswith("FitError: no candidate converged")
    assert "data" not in reader._values


def test_precompute_leaves_the_value_ranking_unless_a_model_failed(
    cdnow_params, steady_buyers_export, tmp_path
):
    """The value ranking replaces the models only when a fit fails: the tables thread does
    not rank a base whose models fit (a pass over every customer for nothing), and a workshop
    user who asks still gets it."""

    def stored(params, folder):
        ClientAnalysis(params, cache_dir=folder).precompute()
        (kept,) = folder.iterdir()
        return {path.stem for path in kept.glob("*.pickle")}

    fitted = stored(cdnow_params, tmp_path / "cdnow")
    assert {"customer_equity", "summary"} <= fitted
    assert not set(ClientAnalysis.MODEL_FALLBACK_TABLES) & fitted
    analysis = ClientAnalysis(cdnow_params, cache_dir=tmp_path / "cdnow")
    assert not analysis.model_failures()
    assert len(analysis.value_ranking) == 2357
    failed = stored(ccnb.load_params(steady_buyers_export()), tmp_path / "steady")
    assert set(ClientAnalysis.MODEL_FALLBACK_TABLES) <= failed


#: tables with a row per customer: a section that only words a total must not read one
PER_CUSTOMER_TABLES = {
    "summary",
    "segments",
    "predictions",
    "calibration",
    "activation",
    "value_ranking",
    "budget_customers",
    "allocated_customers",
}


@pytest.fixture(scope="module")
def stored_cdnow(cdnow_params, tmp_path_factory):
    """A cache folder holding every CDNOW table, computed once for the tests that read it."""
    folder = tmp_path_factory.mktemp("stored-cdnow")
    ClientAnalysis(cdnow_params, cache_dir=folder).precompute()
    return folder


def test_equity_and_its_interval_are_worded_without_reading_every_customer(
    cdnow_params, stored_cdnow
):
    """The KPI page and the CLV page's value sections read customer equity's own interval,
    not the per-customer predictions (a million rows in each kernel of a big client)."""
    from ccnb import report

    analysis = ClientAnalysis(cdnow_params, cache_dir=stored_cdnow)
    sections = [
        report.equity_headline(analysis),
        report.naive_versus_model(analysis),
        report.next_steps_overview(analysis),
        report.clv_distribution(analysis),
        report.retention_value(analysis),
        report.clv_by_segment(analysis),
        report.next_steps_clv(analysis),
    ]
    text = " ".join(section.text for section in sections)
    level = analysis.customer_equity.interval
    assert f"{100 * level:.0f}% interval" in text
    assert f"{100 * (1 - level) / 2:.0f}%" in text  # each customer's own bounds' tail
    assert not PER_CUSTOMER_TABLES & set(analysis._values), set(analysis._values)


def test_the_tiered_plan_counts_the_segmentation_pages_customers_without_reading_them(
    cdnow_params, stored_cdnow
):
    """The budget page's rule sentence names the customers on the segmentation page: the
    segment summary's sizes, not the per-customer segments (a million rows at scale)."""
    from ccnb import report

    analysis = ClientAnalysis(cdnow_params, cache_dir=stored_cdnow)
    text = report.tiered_plan(analysis).text
    assert not PER_CUSTOMER_TABLES & set(analysis._values), set(analysis._values)
    customers = ClientAnalysis(cdnow_params, cache_dir=stored_cdnow).segments
    assert f"of the {len(customers):,} customers on the segmentation page" in text


def test_survey_answers_carry_the_summarys_channel_without_reading_the_summary():
    """Each answer gets its customer's segment and the channel the customer summary gives
    (``unknown`` for a customer the customers table does not list, none for a respondent who
    is not a customer), from the customers table rather than the per-customer summary."""
    analysis = ClientAnalysis(ccnb.load_params("params/demo.yaml"))
    customers = analysis.data.customers
    unlisted = customers["customer_id"].iloc[0]
    analysis.data.customers = customers[customers["customer_id"] != unlisted]
    survey = analysis.data.survey
    stranger = survey.iloc[[0]].assign(customer_id="not-a-customer")
    listed = survey.iloc[[1]].assign(customer_id=unlisted)
    analysis.data.survey = pd.concat([survey, stranger, listed], ignore_index=True)
    joined = analysis.survey_with_segments
    assert "survey_with_segments" in analysis._used_by["segments"]
    assert "survey_with_segments" not in analysis._used_by["summary"]  # read by the segments
    base = analysis.summary[["customer_id", "acquisition_channel"]]
    assert unlisted in set(base["customer_id"])
    expected = analysis.data.survey.merge(base, on="customer_id", how="left")
    pd.testing.assert_series_equal(joined["acquisition_channel"], expected["acquisition_channel"])
    assert joined["acquisition_channel"].iloc[-2] is pd.NA
    assert joined["acquisition_channel"].iloc[-1] == "unknown"
    assert joined["segment"].notna().sum() == len(joined) - 1


def test_the_budget_page_on_duckdb_does_not_need_pyspark(cdnow_params, tmp_path):
    """Without the Spark extra installed, every table of the budget page and both exports
    are made (the Spark path's imports stay behind the engine's check)."""
    script = (
        "import sys\n"
        "sys.modules['pyspark'] = None  # as when the extra is not installed\n"
        "import ccnb\n"
        "params = ccnb.load_params('params/cdnow.yaml')\n"
        "analysis = ccnb.ClientAnalysis(params)\n"
        "for name in ('budget_customer_counts', 'strategy_comparison', 'tier_rules', "
        "'tier_plan', 'allocation_deciles', 'sensitivity', 'break_even_budget', 'test_plan', "
        "'allocation_rows', 'test_assignment_rows'):\n"
        "    getattr(analysis, name)\n"
        "print(int(analysis.budget_customer_counts['allocated']), "
        "analysis.allocation_rows.rows, analysis.test_assignment_rows.rows)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ}
    )
    assert result.returncode == 0, result.stderr
    allocated, allocation_rows, assigned = map(int, result.stdout.split())
    assert allocated == allocation_rows > assigned > 0
