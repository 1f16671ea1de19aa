"""The ``discover`` command line.

Only the standard library is imported at module level: ``discover --help`` must answer
at once, and litellm, langgraph and matplotlib are loaded by the commands that use them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from runs.display import printable  # stored text holds model replies and experiment output

DEFAULT_RUNS_DIR = "runs"
RUN_HELP = "run id, any part of it that names one run, or 'latest' (default)"
EXIT_CODES = """exit status:
  0    the run ended with a best node (a valid metric)
  1    an unexpected error (a bug: please report the traceback)
  2    bad input: one line names the file, field or flag; nothing was stored
  3    the run ended, but no node produced a valid metric (see `discover show RUN`)
  130  interrupted (Ctrl-C or SIGTERM); `discover resume` continues the run"""
NO_VALID_METRIC = 3


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="discover",
        description="Tree-search scientific discovery: search a tree of experiments for an idea.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs-dir", default=os.environ.get("DISCOVER_RUNS_DIR", DEFAULT_RUNS_DIR),
                        help="folder of the run database and run folders (default: DISCOVER_RUNS_DIR, else "
                             "./runs); also accepted after the command")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="search a tree of experiments for an idea")
    p.add_argument("idea", help="idea file (Markdown with front matter, or AI-Scientist-v2 JSON), or a task folder "
                                "(AIDE or MLE-bench layout, docs/tasks.md)")
    p.add_argument("--budget", type=int, default=20, help="nodes to run (default 20)")
    p.add_argument("--time", dest="time_limit", help="stop after this long, e.g. 30m, 2h")
    p.add_argument("--workers", type=int, default=2, help="nodes in flight at once (default 2)")
    p.add_argument("--policy", default="adaptive",
                   help="search policy: adaptive, greedy, mcts, bfts or drafts (default adaptive)")
    p.add_argument("--c-puct", type=float, help="mcts: exploration constant below the root (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the policy and agent (default 0)")
    p.add_argument("--metric", help="NAME[:maximize|minimize]: the metric to optimise; replaces the idea's "
                                    "(with a notice), and names it for idea JSON that has none")
    p.add_argument("--num-drafts", type=int, default=5, help="drafts before improving (default 5)")
    _task_flags(p)
    _workspace_flags(p)
    p.add_argument("--final-seeds", type=int, default=0,
                   help="at the end, re-run the top nodes with this many more seeds; the best mean wins")
    p.add_argument("--final-top-k", type=int, default=3, help="how many top nodes --final-seeds re-runs")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.add_argument("--no-tui", action="store_true", help="the plain progress display, not the TUI, on a terminal")
    _model_flags(p)

    p = sub.add_parser("resume", help="continue a stopped or crashed run")
    p.add_argument("run", nargs="?", help=RUN_HELP)
    p.add_argument("--budget", type=int, help="new total node budget (raise it to search further)")
    p.add_argument("--time", dest="time_limit", help="new limit on the run's total search time")
    p.add_argument("--workers", type=int, help="nodes in flight at once")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")

    p = sub.add_parser("fork", help="start a new run from a node of an old one (the old run is untouched)")
    p.add_argument("run", help="run id, or any part of it that names one run")
    p.add_argument("--node", type=int, required=True, help="the node to fork from")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--subtree", action="store_const", const="subtree", dest="scope",
                       help="copy the node's whole subtree, not only the path to it")
    scope.add_argument("--all", action="store_const", const="all", dest="scope", help="copy the whole tree")
    p.add_argument("--policy", help="search policy of the new run")
    p.add_argument("--budget", type=int, help="new nodes the fork may add (default: the old run's budget)")
    p.add_argument("--time", dest="time_limit", help="limit on the new run's search time")
    p.add_argument("--workers", type=int, help="nodes in flight at once")
    p.add_argument("--idea", help="a revised idea file for the new run")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")

    p = sub.add_parser("bench", help="run tasks x policies x models x seeds; a table and a plot of the test scores")
    p.add_argument("tasks", nargs="+", metavar="TASK", help="task folders (or idea files) to run")
    p.add_argument("--policies", default="mcts", help="comma-separated policies (default mcts), e.g. mcts,greedy,bfts")
    p.add_argument("--models", default="offline",
                   help="comma-separated models; 'offline' is the built-in offline agent (default offline)")
    p.add_argument("--api-base", help="an OpenAI-compatible server for the models")
    p.add_argument("--seeds", default="3", help="how many seeds (0..N-1), or a list such as 0,5,7 (default 3)")
    p.add_argument("--budget", type=int, default=10, help="nodes per run (default 10)")
    p.add_argument("--workers", type=int, default=2, help="nodes in flight per run (default 2)")
    p.add_argument("--time", dest="time_limit", help="limit on each run's search time, e.g. 5m")
    p.add_argument("--workspace", choices=("auto", "local", "docker", "ray"), help="where nodes run (default auto)")
    p.add_argument("--out", help="folder for bench.csv, bench.md and bench.png (default RUNS_DIR/bench-TIME)")
    p.add_argument("--reports", action="store_true", help="write each run's report too (seconds per run)")

    sub.add_parser("list", help="list the runs in the store")
    p = sub.add_parser("tui", help="watch and steer a run, running in another process or finished")
    p.add_argument("run", nargs="?", help=RUN_HELP)

    p = sub.add_parser("stop", help="ask a running run to stop: its running nodes finish, then the report "
                                    "is written (as the TUI's s key)")
    p.add_argument("run", nargs="?", help=RUN_HELP)

    sub.add_parser("doctor", help="say what this machine offers: Docker, image, GPUs, models and keys")
    p = sub.add_parser("clean", help="remove Docker containers that runs left behind")
    p.add_argument("run", nargs="?", help="only this run's containers (default: all of discover's)")

    p = sub.add_parser("show", help="show a run, or one node of it")
    p.add_argument("run", nargs="?", help=RUN_HELP)
    p.add_argument("--node", type=int, help="show this node in full")

    p = sub.add_parser("report", help="write (again) the report of a run, with its review")
    p.add_argument("run", nargs="?", help=RUN_HELP)
    p.add_argument("--offline", action="store_true", help="templates and the checklist, even for a run with a model")
    p.add_argument("--no-panel", action="store_true", help="skip the review panel (the checklist still runs)")
    p.add_argument("--reviewers", type=int, default=3, choices=range(1, 5), metavar="N",
                   help="reviewers on the panel, 1-4 (default 3)")
    p.add_argument("--refresh", action="store_true", help="ask the model again even when nothing changed")
    p.add_argument("--literature", nargs="?", const="", metavar="BACKENDS",
                   help="first search the literature for the idea and cite what is found; optionally the backends "
                        "in fallback order (default openalex,semantic_scholar,arxiv,crossref; or DISCOVER_LITERATURE)")
    _model_flags(p)

    p = sub.add_parser("ideate", help="propose research ideas for a topic, checked for novelty against the literature")
    p.add_argument("topic", help="TOPIC.md: the topic, its constraints and the compute available")
    p.add_argument("--ideas", type=int, help="how many ideas (default: the topic's 'ideas', else 3)")
    p.add_argument("--out", default="ideas", help="folder for NAME.md and NAME.json (default ./ideas)")
    p.add_argument("--papers", type=int, default=5, help="closest papers the novelty check reads per idea (default 5)")
    p.add_argument("--literature", metavar="BACKENDS",
                   help="backends in fallback order (default openalex,semantic_scholar,arxiv,crossref), or 'offline' "
                        "for the cache only (or DISCOVER_LITERATURE)")
    p.add_argument("--run", action="store_true", help="then run the best-rated idea, as `discover run` would")
    g = p.add_argument_group("with --run")
    g.add_argument("--budget", type=int, help="nodes to run")
    g.add_argument("--time", dest="time_limit", help="stop the run after this long")
    g.add_argument("--workers", type=int, help="nodes in flight at once")
    g.add_argument("--policy", help="search policy")
    g.add_argument("--workspace", choices=("auto", "local", "docker", "ray"), help="where nodes run")
    g.add_argument("--quiet", action="store_true", help="print only the final summary")
    g.add_argument("--no-tui", action="store_true", help="the plain progress display, not the TUI")
    _model_flags(p)
    for command in sub.choices.values():
        # After the command too (`discover list --runs-dir DIR`); SUPPRESS keeps the value given before it.
        command.add_argument("--runs-dir", default=argparse.SUPPRESS,
                             help="folder of the run database and run folders (default: DISCOVER_RUNS_DIR, "
                                  "else ./runs)")
    return parser


def _task_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("an AIDE data folder (docs/tasks.md)")
    g.add_argument("--goal", help="what to predict, when the folder has no description.md")
    g.add_argument("--eval", help="how predictions are scored, e.g. 'accuracy of the label column'")
    g.add_argument("--desc", help="a Markdown description with '## Goal', '## Evaluation', '## Data description'")


def _workspace_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where nodes run")
    g.add_argument("--workspace", choices=("auto", "local", "docker", "ray"),
                   help="auto (default; DISCOVER_WORKSPACE when set): Docker when an engine and the image answer, "
                        "else local (with a model: an error, pass local to accept unsandboxed code); "
                        "ray: each node a Ray task on a cluster")
    g.add_argument("--ray-address", help="Ray cluster address (HOST:PORT, ray://HOST:PORT or local); "
                                         "default RAY_ADDRESS")
    g.add_argument("--image", help="Docker image for the nodes (default: the idea's, else discover-test:bookworm)")
    g.add_argument("--gpus", help="GPUs to hand out: all (default), none, or ids such as 0,1")
    g.add_argument("--gpus-per-node", type=float,
                   help="GPUs per node; fractions share a GPU (default: the idea's, else 1/ceil(workers/GPUs), "
                        "which spreads the workers evenly over the GPUs)")
    g.add_argument("--node-disk", help="disk quota of each node's folder, e.g. 10g (default: the idea's, else "
                                       "a quarter of the free space / workers, at most 20g)")
    g.add_argument("--node-memory", help="memory of each node, e.g. 16g (default: the idea's, else in Docker "
                                         "80%% of this machine's memory / workers, locally none)")
    g.add_argument("--node-shm", help="Docker: /dev/shm of each node, e.g. 2g (default: the idea's, else "
                                      "a quarter of its memory, at most 8g)")


def _model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models (any litellm model; without one the offline agent runs)")
    g.add_argument("--model", help="model for every role, e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4-5 "
                                   "(or DISCOVER_MODEL)")
    g.add_argument("--api-base", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (with openai/NAME)")
    g.add_argument("--api-key-env", help="environment variable that holds the key")
    for role in ("value", "review", "metric", "writeup"):
        g.add_argument(f"--{role}-model", help=f"model for the {role} role (default: --model)")
    g.add_argument("--config", dest="config_file", help="a TOML file with an [llm] table of these settings")
    g.add_argument("--max-cost", type=float,
                   help="USD the run's model calls may cost, write-up included: once spent, no further call is "
                        "made, the running nodes finish and the report is written from templates")
    g.add_argument("--price-in", type=float, metavar="USD",
                   help="price per million input tokens of a model litellm has no price for (with --price-out)")
    g.add_argument("--price-out", type=float, metavar="USD",
                   help="price per million output tokens of a model litellm has no price for (with --price-in)")
    g.add_argument("--value-agent", action="store_true", default=None,
                   help="ask a value agent for each node's promise (stored; mcts uses it as a prior)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {
        "run": _cmd_run, "resume": _cmd_resume, "fork": _cmd_fork, "list": _cmd_list, "show": _cmd_show,
        "report": _cmd_report, "doctor": _cmd_doctor, "clean": _cmd_clean, "tui": _cmd_tui, "stop": _cmd_stop,
        "ideate": _cmd_ideate, "bench": _cmd_bench,
    }[args.command]
    try:
        return handler(args)
    except UsageError as exc:
        print(f"discover: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Our own bad-input errors are one line for the user; anything else is a real bug.
        from discovery.errors import user_message

        message = user_message(exc)
        if message is None:
            raise
        print(f"discover: error: {printable(message)}", file=sys.stderr)
        return 2
    finally:
        if argv is None:
            # The process ends next. Collecting everything litellm and langgraph allocated took
            # 9 s on two busy cores (0.4 s frozen), for objects that die with the process anyway.
            import gc

            gc.freeze()


def _open_store(args: argparse.Namespace, *, readonly: bool = False):  # noqa: ANN202 - a RunStore
    from runs.store import RunStore

    return RunStore(args.runs_dir, readonly=readonly)


def _open_existing_store(args: argparse.Namespace):  # -> a RunStore
    """The store for a command on earlier runs: never creates an empty database where there is none."""
    from runs.store import DB_NAME, StoreError

    if not (Path(args.runs_dir) / DB_NAME).exists():
        raise StoreError(f"{Path(args.runs_dir) / DB_NAME}: no run database here (`discover run IDEA` starts "
                         f"one; --runs-dir DIR names another folder)")
    return _open_store(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from discovery.api import create_run, preflight
    from discovery.config import config_from_args
    from discovery.idea import load_idea

    config = config_from_args(args)
    idea = load_idea(args.idea, metric=args.metric, goal=args.goal, evaluation=args.eval, desc=args.desc,
                     notice=lambda text: print(f"discover: {text}", file=sys.stderr))
    config = _configure_model(args, config, probe=False)
    preflight(config, idea)
    store = _open_store(args)
    run = create_run(store, idea, config)
    if sys.stdin.isatty() and sys.stdout.isatty() and not (args.no_tui or args.quiet):
        return _search_with_tui(args, store, run.id)
    return _search(args, store, run)


def _search_with_tui(args: argparse.Namespace, store, run_id: str) -> int:  # noqa: ANN001 - a RunStore
    """Run the search in its own process and attach the TUI to it, so that leaving the TUI
    can leave the run going in the background."""
    import subprocess

    from tui.app import run_tui

    log = store.run_dir(run_id) / "orchestrator.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "discovery.cli", "--runs-dir", str(args.runs_dir), "resume", run_id, "--quiet"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    store.close()
    choice = run_tui(args.runs_dir, run_id, live=True)
    if choice == "background":
        print(f"discover: run {run_id} goes on in process {child.pid}; `discover tui {run_id}` to watch it again, "
              f"log in {log}", file=sys.stderr)
        return 0
    if child.poll() is None:
        print(f"discover: waiting for run {run_id} to finish its running nodes and write the report", file=sys.stderr)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        child.send_signal(2)
        code = child.wait()
    report = Path(args.runs_dir) / run_id / "report" / "report.md"
    if report.exists():
        print(f"report: {report}", file=sys.stderr)
    return code


def _cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import run_tui

    store = _open_store(args, readonly=True)
    run_id = store.resolve_run(args.run)
    store.close()
    run_tui(args.runs_dir, run_id)
    return 0


def _configure_model(args: argparse.Namespace, config, *, probe: bool = True):  # noqa: ANN001, ANN202 - RunConfig
    """Resolve --model & co. (flags > environment > --config file) and check the model answers.

    ``probe=False`` (``discover run``): only the checks that need no litellm here; the search
    checks the rest while its first nodes start (api.run_async's ``check_model``)."""
    from agents.llm import LLMConfig, ModelCheckError, check_model, quick_check, with_llm

    table = {}
    if args.config_file:
        import tomllib

        try:
            with open(args.config_file, "rb") as f:
                table = tomllib.load(f).get("llm", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"--config {args.config_file}: {exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--config {args.config_file}: not UTF-8 text (a TOML file is)") from None
        if not isinstance(table, dict):
            raise UsageError(f"--config {args.config_file}: llm must be a table ([llm] and its fields)")
    keys = ("model", "api_base", "api_key_env", "value_model", "review_model", "metric_model", "writeup_model",
            "price_in", "price_out")
    given = [k for k in ("price_in", "price_out") if getattr(args, k, None) is not None]
    if len(given) == 1:
        other = "--price-out" if given == ["price_in"] else "--price-in"
        raise UsageError(f"{other}: give it too (USD per million tokens): the two prices go together")
    try:
        llm = LLMConfig.resolve({k: getattr(args, k, None) for k in keys}, table)
    except ModelCheckError as exc:
        if exc.field != "llm config" or not table:
            raise
        # A field that fails to validate comes from the file (flags are checked by argparse).
        raise UsageError(f"--config {args.config_file}: [llm]{exc.rest}") from None
    if llm is None:
        return with_llm(config, None)
    where = f"model {llm.model}" + (f" at {llm.api_base}" if llm.api_base else "")
    if not probe:
        quick_check(llm)
        print(f"discover: {where} (checked while the search starts)", file=sys.stderr)
        return with_llm(config, llm)
    print(f"discover: checking {where}", file=sys.stderr)
    check_model(llm)
    from discovery.api import price_notice

    notice = price_notice(llm) if config.max_cost is None else None
    if notice:
        print(f"discover: {notice}", file=sys.stderr)
    return with_llm(config, llm)


def _cmd_resume(args: argparse.Namespace) -> int:
    from discovery.api import prepare_resume
    from discovery.config import updates_from_args

    updates = updates_from_args(args)
    store = _open_existing_store(args)
    run_id = store.resolve_run(args.run)
    run, lock = prepare_resume(store, run_id, **updates)
    return _search(args, store, run, lock)


def _cmd_fork(args: argparse.Namespace) -> int:
    from discovery.api import prepare_resume
    from discovery.config import updates_from_args
    from discovery.idea import load_idea
    from runs.fork import fork_run

    updates = updates_from_args(args)
    budget = updates.pop("budget", None)
    idea = load_idea(args.idea) if args.idea else None
    store = _open_existing_store(args)
    run_id = store.resolve_run(args.run)
    if idea is not None and not store.get_run(run_id).config.llm:
        from discovery.idea import check_offline

        check_offline(idea)
    new_id = fork_run(store, run_id, args.node, args.scope or "path", config=updates, idea=idea, budget=budget)
    print(f"discover: forked {run_id} at node {args.node} into {new_id}", file=sys.stderr)
    run, lock = prepare_resume(store, new_id)
    return _search(args, store, run, lock)


def _search(args: argparse.Namespace, store, run, lock=None) -> int:  # noqa: ANN001 - store, Run, RunLock
    """Search ``run`` in the foreground with the terminal display; the exit status to return."""
    import asyncio

    from discovery.api import run_async
    from discovery.progress import SilentProgress, TerminalProgress, summary_table

    config = run.config
    agent = ("no LLM configured, so the built-in offline agent searches the idea's search_space"
             if run.agent == "offline" else f"agent {run.agent}")
    print(f"discover: run {run.id}: {config.workers} workers, {config.policy} policy; {agent}", file=sys.stderr)
    progress = SilentProgress() if args.quiet else TerminalProgress()
    result = asyncio.run(run_async(store, run, progress, handle_signals=True, lock=lock, check_model=True))
    if args.quiet:
        print(printable(summary_table(store, run.id)))
        if result.report:
            print(f"report: {result.report}")
    store.close()
    if result.stop_reason == "interrupt":
        return 130
    if result.best_node_id is None:
        print(f"discover: run {run.id}: no node produced a valid {run.idea.metric.name}; "
              f"`discover show {run.id}` says why each failed", file=sys.stderr)
        return NO_VALID_METRIC
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import time

    from discovery.bench import parse_list, parse_seeds, run_bench
    from discovery.durations import DurationError, parse_duration

    try:
        limit = parse_duration(args.time_limit) if args.time_limit else None
    except DurationError as exc:
        raise UsageError(f"--time: {exc}") from None
    if args.budget < 1 or args.workers < 1:
        raise UsageError(f"--{'budget' if args.budget < 1 else 'workers'}: must be at least 1")
    out = Path(args.out) if args.out else Path(args.runs_dir) / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = run_bench(Path(args.runs_dir), args.tasks, parse_list(args.policies, "--policies"),
                     parse_list(args.models, "--models"), parse_seeds(args.seeds), out=out, budget=args.budget,
                     workers=args.workers, time_limit=limit, workspace=args.workspace, api_base=args.api_base,
                     reports=args.reports, echo=lambda line: print(line, file=sys.stderr))
    print((out / "bench.md").read_text(), end="")
    print(f"bench: {len(rows)} runs; {out / 'bench.csv'}, {out / 'bench.md'}"
          + (f", {out / 'bench.png'}" if (out / "bench.png").exists() else ""))
    return 0 if rows else 1


def _cmd_list(args: argparse.Namespace) -> int:
    from discovery.durations import format_duration
    from runs.lock import is_locked
    from runs.store import DB_NAME

    if not (Path(args.runs_dir) / DB_NAME).exists():
        print(f"no runs yet in {args.runs_dir}")
        return 0
    store = _open_store(args, readonly=True)
    runs = store.list_runs()
    if not runs:
        print(f"no runs yet in {args.runs_dir}")
        return 0
    print(f"{'run':<48} {'status':<9} {'nodes':>5} {'best':>12}  {'policy':<7} {'time':>7}  metric")
    for run in runs:
        count = sum(store.count_nodes(run.id).values())
        best = store.get_node(run.id, run.best_node_id).metric if run.best_node_id else None
        best_text = f"{best:.6g}" if best is not None else "-"
        lineage = f"  (fork of {run.parent_run_id}#{run.parent_node_id})" if run.parent_run_id else ""
        # A run marked running whose lock nobody holds lost its process: say so.
        status = "crashed" if run.status == "running" and not is_locked(store.run_dir(run.id)) else run.status
        metric = f"{printable(run.idea.metric.name)} ({run.idea.metric.direction})"
        print(f"{run.id:<48} {status:<9} {count:>5} {best_text:>12}  {run.config.policy:<7} "
              f"{format_duration(run.elapsed):>7}  {metric}{lineage}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from discovery.show import show_node, show_run

    store = _open_store(args, readonly=True)
    run_id = store.resolve_run(args.run)
    print(printable(show_node(store, run_id, args.node) if args.node is not None else show_run(store, run_id)))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from discovery.report import write_report

    store = _open_existing_store(args)  # the report may store its review and its model calls
    run_id = store.resolve_run(args.run)
    run = store.get_run(run_id)
    store.close()
    llm = None
    given = ("model", "api_base", "writeup_model", "review_model", "config_file")
    if not args.offline and any(getattr(args, k, None) for k in given):
        from agents.llm import run_llm

        llm = run_llm(_configure_model(args, run.config))
    elif not args.offline and args.price_in is not None and args.price_out is not None:
        from agents.llm import run_llm

        own = run_llm(run.config)  # the run's own model, priced anew
        llm = own.model_copy(update={"price_in": args.price_in, "price_out": args.price_out}) if own else None
    if args.literature is not None:
        from discovery.writeup.literature import link_related

        linked, errors = link_related(args.runs_dir, run_id, _literature_config(args.literature or None))
        print(f"discover: {linked} papers found for the idea" + (f" ({'; '.join(errors)})" if errors else ""),
              file=sys.stderr)
    print(write_report(args.runs_dir, run_id, llm=llm, panel=not args.no_panel, reviewers=args.reviewers,
                       refresh=args.refresh, offline=args.offline, max_cost=args.max_cost))
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from runs.lock import is_locked

    store = _open_existing_store(args)
    run_id = store.resolve_run(args.run)
    run = store.get_run(run_id)
    if run.status != "running" or not is_locked(store.run_dir(run_id)):
        status = "crashed" if run.status == "running" else run.status
        print(f"discover: run {run_id} is not running ({status}); nothing to stop")
        return 0
    store.add_command(run_id, "stop")
    print(f"discover: asked run {run_id} to stop: its running nodes finish, then the report is written")
    return 0


def _literature_config(backends: str | None):  # noqa: ANN202 - agents.literature.config.LiteratureConfig
    """Literature settings from the environment and ``--literature`` (a backend order, or offline)."""
    from agents.literature.config import LiteratureConfig, LiteratureConfigError

    flags: dict[str, object] = {}
    if backends is not None and backends.strip().lower() == "offline":
        flags["offline"] = True
    elif backends:
        flags["backends"] = backends
    try:
        return LiteratureConfig.from_env(**flags)
    except LiteratureConfigError as exc:
        raise UsageError(str(exc)) from None


def _cmd_ideate(args: argparse.Namespace) -> int:
    """Propose ideas for a topic, check each against the literature, write them; with --run, run the best."""
    import asyncio

    from discovery.ideate import MAX_IDEAS, load_topic, summary
    from runs.models import RunConfig

    topic = load_topic(args.topic)
    if args.ideas is not None and not 1 <= args.ideas <= MAX_IDEAS:
        raise UsageError(f"--ideas: expected 1 to {MAX_IDEAS}, got {args.ideas}")
    if args.papers < 1:
        raise UsageError(f"--papers: expected at least 1, got {args.papers}")
    literature = _literature_config(args.literature)
    from agents.llm import run_llm

    llm = run_llm(_configure_model(args, RunConfig()))
    if llm is None:
        raise UsageError("ideate needs a model to propose and judge ideas: pass --model (or set DISCOVER_MODEL)")
    store = _open_store(args)  # the literature cache
    try:
        result = asyncio.run(_ideate(args, topic, llm, literature, store))
    finally:
        store.close()
    if result is None:
        return 1
    print(printable(summary(result)))
    if not args.run:
        return 0
    best = result.best.path
    print(f"discover: running the best-rated idea, {best}", file=sys.stderr)
    argv = ["--runs-dir", str(args.runs_dir), "run", str(best)]
    for flag, value in (("--budget", args.budget), ("--time", args.time_limit), ("--workers", args.workers),
                        ("--policy", args.policy), ("--workspace", args.workspace), ("--model", args.model),
                        ("--api-base", args.api_base), ("--api-key-env", args.api_key_env),
                        ("--value-model", args.value_model), ("--review-model", args.review_model),
                        ("--metric-model", args.metric_model), ("--writeup-model", args.writeup_model),
                        ("--config", args.config_file), ("--max-cost", args.max_cost)):
        if value is not None:
            argv += [flag, str(value)]
    argv += [f for f, on in (("--quiet", args.quiet), ("--no-tui", args.no_tui)) if on]
    return main(argv)


async def _ideate(args: argparse.Namespace, topic, llm, literature, store):  # noqa: ANN001, ANN202 - LLMConfig
    from agents.extract import BadJSON
    from agents.literature.client import LiteratureClient
    from agents.llm import LLMClient, LLMError
    from discovery.ideate import ideate

    client = LLMClient(llm)
    async with LiteratureClient(literature, store) as papers:
        try:
            return await ideate(topic, client, papers, Path(args.out), ideas=args.ideas,
                                papers_per_idea=args.papers,
                                progress=lambda line: print(f"discover: {line}", file=sys.stderr))
        except (LLMError, BadJSON) as exc:
            print(f"discover: ideation failed, no idea written: {exc}", file=sys.stderr)
            return None


def _cmd_doctor(args: argparse.Namespace) -> int:
    import os

    from discovery.config import key_report
    from workspace.doctor import doctor_report

    extra = [("keys", key_report(os.environ))]
    model = os.environ.get("DISCOVER_MODEL")
    if model:
        from agents.llm import LLMConfig, ModelCheckError, acheck_model
        import asyncio

        try:
            asyncio.run(acheck_model(LLMConfig(model=model, api_base=os.environ.get("DISCOVER_API_BASE")),
                                     probe=False))
            extra.append(("model", f"{model}: provider known, key present"))
        except ModelCheckError as exc:
            extra.append(("model", exc.named({"model": "DISCOVER_MODEL"})))
    else:
        extra.append(("model", "none configured (DISCOVER_MODEL or --model): the offline agent runs"))
    if os.environ.get("RAY_ADDRESS"):
        from workspace.ray_workspace import RayUnavailable, cluster_resources

        try:
            c = cluster_resources(os.environ["RAY_ADDRESS"])
            extra.append(("ray", f"{c['address']}: {c['nodes']} nodes, {c['cpus_free']:g}/{c['cpus_total']:g} CPUs "
                                 f"and {c['gpus_free']:g}/{c['gpus_total']:g} GPUs free"))
        except RayUnavailable as exc:
            extra.append(("ray", str(exc)))
    print(doctor_report(extra=extra))
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    from workspace.docker import clean, engine_status

    ok, why = engine_status()
    if not ok:
        print(f"no Docker engine ({why}): nothing to clean")
        return 0
    print(f"removed {clean(args.run)} containers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
