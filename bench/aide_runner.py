"""Run AIDE (aideml) for a number of steps and write its journal as JSON.

Runs inside AIDE's own virtual environment (bench/aide_setup.sh), called by
bench/agent_bench.py with OPENAI_BASE_URL pointing at the scripted scientist. The task has
no data: each experiment AIDE's model writes is self-contained.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--goal", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=int, default=30)
    args = parser.parse_args()
    random.seed(args.seed)  # AIDE's policy draws from the global generator
    work = Path(args.workdir)
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "README.txt").write_text("There is no data file: the experiment is self-contained.\n")
    os.chdir(work)

    from omegaconf import OmegaConf

    from aide.agent import Agent
    from aide.interpreter import Interpreter
    from aide.journal import Journal
    from aide.utils.config import _load_cfg, load_task_desc, prep_agent_workspace, prep_cfg

    cfg = _load_cfg(use_cli_args=False)
    cfg.data_dir = str(data)
    cfg.goal, cfg.eval = args.goal, args.eval
    cfg.log_dir, cfg.workspace_dir = str(work / "logs"), str(work / "workspaces")
    cfg.agent.code.model = cfg.agent.feedback.model = "scientist"
    cfg.agent.data_preview = False
    cfg.generate_report = False
    cfg.exec.timeout = args.timeout
    cfg = prep_cfg(cfg)
    prep_agent_workspace(cfg)
    journal = Journal()
    agent = Agent(task_desc=load_task_desc(cfg), cfg=cfg, journal=journal)
    interpreter = Interpreter(cfg.workspace_dir, **OmegaConf.to_container(cfg.exec))  # type: ignore[arg-type]
    try:
        for _ in range(args.steps):
            agent.step(exec_callback=interpreter.run)
    finally:
        interpreter.cleanup_session()
    steps = [{"code": n.code, "buggy": bool(n.is_buggy),
              "metric": None if n.is_buggy or n.metric is None else n.metric.value,
              "stage": n.stage_name} for n in journal.nodes]
    Path(args.out).write_text(json.dumps(steps))


if __name__ == "__main__":
    main()
