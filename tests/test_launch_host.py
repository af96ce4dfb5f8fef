"""Host records: the launcher writes where each run and encoder ran and the machine's load meanwhile, beside their
results; a retried task keeps every attempt; the report names them, and says so when there are none."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from pipeline.config import Params
from pipeline.launch.backends import LocalBackend
from pipeline.launch.host import Attempt, append, load_summary, run_sampled, this_machine
from pipeline.launch.plan import Task, plan
from pipeline.profile import merged
from pipeline.report.hosts import hosts_section

from .test_dvc_graph import ROOT


def test_plan_puts_a_record_beside_each_runs_and_encoders_results() -> None:
    params = Params.model_validate(yaml.safe_load(yaml.safe_dump(merged("tiny", ROOT))))
    tasks = {t.name: t for t in plan(params)}
    assert tasks["policy@state-0"].record == str(params.paths.runs / "state" / "0" / "host.json")
    assert tasks["pretrain@vae"].record == str(params.paths.pretrain_results / "vae" / "host.json")
    assert tasks["collect"].record is None and tasks["goal_space@vae"].record is None


def test_a_retried_task_records_each_attempt_with_its_machine_and_load(tmp_path: Path) -> None:
    flag = tmp_path / "first"
    script = f"import pathlib, sys; p = pathlib.Path({str(flag)!r}); sys.exit(0 if p.exists() else p.touch() or 9)"
    task = Task("policy@v-0", ("python", "-c", script), (), record="runs/v/0/host.json")
    backend = LocalBackend(1, retries=1)
    assert backend.result(backend.submit(task, str(tmp_path), str(tmp_path / "t.log"), None)) == 0
    record = json.loads((tmp_path / "runs/v/0/host.json").read_text())
    assert [a["exit_code"] for a in record["attempts"]] == [9, 0]  # failed once, then ran again
    first = record["attempts"][0]
    assert first["machine"]["cpus"] >= 1 and first["machine"]["boot_id"] and first["load"] and first["started"]
    assert "1 machine (" in load_summary(tmp_path / "runs/v/0/host.json")


def test_load_is_sampled_while_the_command_runs(tmp_path: Path) -> None:
    attempt = Attempt(this_machine(), None, "now")
    with open(tmp_path / "out.log", "w") as out:
        rc = run_sampled([sys.executable, "-c", "import time; time.sleep(0.5)"], str(tmp_path), out, attempt, every=0.1)
    assert rc == 0 and attempt.exit_code == 0 and attempt.wall_seconds >= 0.5
    assert len(attempt.load) >= 3  # one at the start, then every 0.1 s


def test_a_record_of_another_task_is_replaced_not_extended(tmp_path: Path) -> None:
    record = tmp_path / "host.json"
    machine = this_machine()
    append(record, "old", Attempt(machine, None, "t0", load=[1.0]))
    append(record, "new", Attempt(machine, None, "t1", load=[3.0, 5.0]))
    assert [a["started"] for a in json.loads(record.read_text())["attempts"]] == ["t1"]
    assert load_summary(record).endswith("load mean 4.0, max 5.0")
    assert load_summary(tmp_path / "none.json") == ""


def test_report_names_where_runs_ran_and_says_when_none_has_a_record(tmp_path: Path) -> None:
    runs, encoders = tmp_path / "runs", tmp_path / "pretrain"
    none = "\n".join(hosts_section({"state": [0, 1]}, runs, ["vae"], encoders))
    assert "No run or encoder here has a host record" in none
    append(runs / "state" / "1" / "host.json", "policy", Attempt(this_machine(), None, "t", load=[2.0]))
    lines = "\n".join(hosts_section({"state": [0, 1]}, runs, ["vae"], encoders))
    assert "| `state` seed 1 | 1 machine (" in lines and "load mean 2.0" in lines
    assert "`state` seed 0 |" not in lines and "2 of the 3 have no record" in lines
