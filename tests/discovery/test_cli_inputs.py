"""What a new user trips over at the command line: runs that cannot work are refused before
anything is stored, flags say what they do, run ids and --runs-dir work as the docs say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from discovery.cli import build_parser, main
from runs.models import Idea, MetricSpec, Run, RunConfig
from runs.store import RunStore, StoreError
from tests.conftest import EXAMPLES, ROOT

WRITES = "import json\nLR = 0.1\njson.dump({'acc': LR, 'loss': 1 - LR}, open('metrics.json', 'w'))\n"
CRASHES = "LR = 0.1\nraise SystemExit('no data')\n"


def idea_file(folder: Path, front: str, baseline: str = WRITES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "baseline.py").write_text(baseline)
    path = folder / "idea.md"
    path.write_text(f"---\ntitle: Tiny\n{front}\n---\n# Tiny\n")
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


GOOD = "metric: acc\nbaseline: baseline.py\nsearch_space: {LR: [0.1, 0.2, 0.3]}"


@pytest.mark.parametrize(
    ("front", "needle"),
    [
        ("metric: acc", "baseline: missing; with no model configured the offline agent edits a baseline script"),
        ("metric: acc\nbaseline: baseline.py", "search_space: missing; with no model configured the offline agent"),
    ],
)
def test_an_idea_the_offline_agent_cannot_search_is_refused_before_anything_is_stored(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], front: str, needle: str) -> None:
    idea = idea_file(tmp_path / "idea", front)
    runs = tmp_path / "runs"
    code, _, err = cli(capsys, "--runs-dir", runs, "run", idea, "--budget", "3")
    assert code == 2 and err.count("\n") == 1 and needle in err and "--model" in err
    assert not runs.exists()


def test_a_bad_model_setting_is_named_by_its_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCOVER_MODEL", raising=False)
    idea = idea_file(tmp_path / "idea", GOOD)
    code, _, err = cli(capsys, "--runs-dir", tmp_path / "runs", "run", idea, "--review-model", "openai/r")
    assert code == 2 and err == "discover: error: --review-model: a role model needs a default model too\n"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("text", "needle"), [
    (b'llm = "openai/x"\n', "llm must be a table ([llm] and its fields)"),  # was a traceback
    (b"\xff\xfe[llm]\n", "not UTF-8 text (a TOML file is)"),  # was a traceback
    (b'[llm]\nmodel = "openai/x"\nmodels = "abc"\n', "[llm] models: expected a table of role = model"),
    (b'[llm]\nmodel = "openai/x"\ntimeout = "soon"\n', "[llm] timeout: Input should be a valid number"),
    (b'[llm]\nmodel = "openai/x"\nbogus = 1\n', "[llm] bogus: Extra inputs are not permitted"),
    (b"[llm\n", "Expected ']' at the end of a table declaration"),
])
def test_a_bad_config_file_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, text: bytes, needle: str) -> None:
    monkeypatch.delenv("DISCOVER_MODEL", raising=False)
    config = tmp_path / "discover.toml"
    config.write_bytes(text)
    idea = idea_file(tmp_path / "idea", GOOD)
    code, _, err = cli(capsys, "--runs-dir", tmp_path / "runs", "run", idea, "--config", config)
    assert code == 2 and err.startswith(f"discover: error: --config {config}: ") and err.count("\n") == 1, err
    assert needle in err
    assert not (tmp_path / "runs").exists()


def test_a_run_without_a_valid_metric_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idea = idea_file(tmp_path / "idea", GOOD, baseline=CRASHES)
    code, _, err = cli(capsys, "run", idea, "--budget", "2", "--quiet", "--runs-dir", tmp_path / "runs")
    assert code == 3
    assert re.search(r"run \S+: no node produced a valid acc; `discover show \S+` says why", err)
    store = RunStore(tmp_path / "runs", readonly=True)
    run = store.get_run(store.resolve_run(None))
    assert run.status == "finished" and run.best_node_id is None


def test_metric_flag_wins_with_a_notice_and_a_bad_direction_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idea = idea_file(tmp_path / "idea", GOOD)
    runs = tmp_path / "runs"
    code, _, err = cli(capsys, "run", idea, "--metric", "loss:down", "--runs-dir", runs)
    assert code == 2 and err == "discover: error: --metric 'loss:down': direction 'down' is not 'maximize' or " \
                                "'minimize' (also max or min)\n"
    assert not runs.exists()
    code, _, err = cli(capsys, "run", idea, "--metric", "loss:minimize", "--budget", "1", "--quiet",
                       "--runs-dir", runs)
    assert code == 0
    assert "discover: --metric loss (minimize) replaces the idea's metric acc (maximize)\n" in err
    store = RunStore(runs, readonly=True)
    run = store.get_run(store.resolve_run(None))
    assert run.idea.metric == MetricSpec(name="loss", direction="minimize")
    assert store.get_node(run.id, 1).metric == pytest.approx(0.9)


@pytest.mark.parametrize(
    "args",
    [["resume"], ["resume", "--budget", "5"], ["fork", "x", "--node", "1"], ["report"], ["stop"], ["show"],
     ["tui"]],
)
def test_commands_on_earlier_runs_create_no_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    runs = tmp_path / "runs"
    code, _, err = cli(capsys, *args, "--runs-dir", runs)
    assert code == 2 and err.count("\n") == 1 and "no run database here" in err
    assert not runs.exists()
    code, out, _ = cli(capsys, "list", "--runs-dir", runs)
    assert code == 0 and out.startswith("no runs yet") and not runs.exists()


def test_unreachable_ray_cluster_stores_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idea = idea_file(tmp_path / "idea", GOOD)
    runs = tmp_path / "runs"
    code, _, err = cli(capsys, "run", idea, "--workspace", "ray", "--ray-address", "127.0.0.1:1", "--runs-dir", runs)
    assert code == 2 and err.count("\n") == 1
    assert "--ray-address: nothing answers at 127.0.0.1:1" in err or "Ray is not installed" in err
    assert not runs.exists()


def test_missing_docker_image_is_refused_not_pulled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workspace.docker import engine_status

    ok, why = engine_status()
    if not ok:
        pytest.skip(f"no Docker engine: {why}")
    idea = idea_file(tmp_path / "idea", GOOD)
    runs = tmp_path / "runs"
    code, _, err = cli(capsys, "run", idea, "--workspace", "docker", "--image", "discover-absent:never",
                       "--runs-dir", runs)
    assert code == 2 and "--workspace docker: image discover-absent:never missing" in err
    assert not runs.exists()


def test_run_ids_match_any_unique_part(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    idea = Idea(title="t", metric=MetricSpec(name="acc"))
    for i, run_id in enumerate(["20261201-101500-mlp-spirals", "20261201-101733-ridge-degree",
                                "20261202-090000-mlp-spirals"]):
        store.create_run(Run(id=run_id, idea=idea, config=RunConfig(), created_at=1000.0 + i))
    assert store.resolve_run("1733") == "20261201-101733-ridge-degree"  # the middle
    assert store.resolve_run("ridge") == "20261201-101733-ridge-degree"
    assert store.resolve_run("1202") == "20261202-090000-mlp-spirals"  # a part of the date
    assert store.resolve_run("1500-mlp") == "20261201-101500-mlp-spirals"
    assert store.resolve_run(None) == store.resolve_run("latest") == "20261202-090000-mlp-spirals"
    with pytest.raises(StoreError, match="ambiguous, matches 20261201-101500-mlp-spirals, 20261202"):
        store.resolve_run("mlp")
    with pytest.raises(StoreError, match="no such run"):
        store.resolve_run("resnet")


def test_runs_dir_is_accepted_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    idea = idea_file(tmp_path / "idea", GOOD)
    code, _, _ = cli(capsys, "run", idea, "--budget", "1", "--quiet", "--runs-dir", "elsewhere")
    assert code == 0 and (tmp_path / "elsewhere" / "discover.db").exists() and not (tmp_path / "runs").exists()
    run_id = RunStore(tmp_path / "elsewhere", readonly=True).resolve_run(None)
    code, out, _ = cli(capsys, "list", "--runs-dir", "elsewhere")
    assert code == 0 and run_id in out
    code, out, _ = cli(capsys, "--runs-dir", "elsewhere", "show", run_id[9:15])  # before it, and a part of the id
    assert code == 0 and f"run {run_id}" in out
    # Given both before and after the command, the one after it wins.
    code, out, _ = cli(capsys, "--runs-dir", "nowhere", "list", "--runs-dir", "elsewhere")
    assert run_id in out


def test_doctor_names_the_keys_that_are_set_never_their_values(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from discovery.config import PROVIDER_KEYS

    for name in PROVIDER_KEYS.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DISCOVER_MODEL", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-do-not-print-me")
    code, out, _ = cli(capsys, "doctor")
    keys = [line for line in out.splitlines() if line.startswith("keys")]
    assert code == 0 and len(keys) == 1
    assert "set: ANTHROPIC_API_KEY (anthropic)" in keys[0] and "not set: OPENAI_API_KEY" in keys[0]
    assert "do-not-print-me" not in out
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, out, _ = cli(capsys, "doctor")
    assert "keys" in out and "no provider key set" in out


def test_gpu_share_help_docs_and_code_agree() -> None:
    from workspace.gpus import default_share

    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()  # noqa: SLF001
    assert "1/ceil(workers/GPUs)" in " ".join(run_help.split())
    assert "1 / ceil(workers / gpus)" in (ROOT / "docs" / "docker.md").read_text()
    assert "1/ceil(workers/GPUs)" in (ROOT / "docs" / "api.md").read_text()
    assert [default_share(4, 1), default_share(3, 2), default_share(2, 4), default_share(5, 2)] == [0.25, 0.5, 1.0,
                                                                                                  1 / 3]


def test_api_docstring_names_an_example_that_exists() -> None:
    import discovery.api

    paths = re.findall(r'run\("([^"]+)"', discovery.api.__doc__ or "")
    assert paths and all((ROOT / p).is_file() for p in paths)


def test_python_api_keywords_are_checked_before_anything_is_stored(tmp_path: Path) -> None:
    from discovery import run
    from discovery.config import ConfigError
    from discovery.idea import IdeaError

    runs = tmp_path / "runs"
    idea = EXAMPLES / "ridge_degree" / "idea.md"
    with pytest.raises(ConfigError, match=r"^run\(\): unknown keyword 'bugdet' \(did you mean budget\?\); "
                                          r"docs/api.md lists them$"):
        run(idea, runs_dir=runs, bugdet=3)
    with pytest.raises(ConfigError, match=r"unknown keyword 'runsdir' \(did you mean runs_dir\?\)"):
        run(idea, runsdir=runs)
    with pytest.raises(ConfigError, match=r"^run\(\): budget: Input should be greater than or equal to 1$"):
        run(idea, runs_dir=runs, budget=0)
    with pytest.raises(ConfigError, match=r"^run\(\): policy: unknown policy 'astar'"):
        run(idea, runs_dir=runs, policy="astar")
    with pytest.raises(ConfigError, match=r"^run\(\): time_limit: 'soon' is not a duration"):
        run(idea, runs_dir=runs, time_limit="soon")
    with pytest.raises(IdeaError, match="search_space: missing"):
        run(idea_file(tmp_path / "idea", "metric: acc\nbaseline: baseline.py"), runs_dir=runs)
    with pytest.raises(IdeaError, match="--metric 'val_mse:down'"):
        run(idea, runs_dir=runs, metric="val_mse:down")
    assert not runs.exists()


def test_python_api_runs_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from discovery import run

    monkeypatch.setenv("DISCOVER_RUNS_DIR", str(tmp_path / "from-env"))
    result = run(idea_file(tmp_path / "idea", GOOD), budget=1, time_limit="1m", metric="loss:min")
    store = RunStore(tmp_path / "from-env", readonly=True)
    run_ = store.get_run(result.run_id)
    assert run_.config.time_limit == 60 and run_.idea.metric.direction == "minimize"


def test_the_draft_count_has_one_default_everywhere() -> None:
    # The CLI, the stored config and the policies built without a config must agree: the
    # benchmarks build policies directly, users go through the CLI.
    from search.base import DEFAULT_DRAFTS
    from search.policy import POLICIES, make_policy

    flags = build_parser().parse_args(["run", "idea.md"])
    assert flags.num_drafts == RunConfig().num_drafts == DEFAULT_DRAFTS
    assert {make_policy(name).num_drafts for name in POLICIES} == {DEFAULT_DRAFTS}
