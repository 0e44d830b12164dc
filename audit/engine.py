"""The runner: suite -> data -> models -> checks -> gates -> run folder.

Everything that can be wrong with the user's input (suite, data, model files) is found before
the run folder exists, so bad input writes nothing. Checks run in isolation: an exception
becomes an ``error`` record and the run goes on. The run is written into a hidden partial
folder which is renamed into place only when complete; each finished check is checkpointed
there (``audit.checkpoint``), so a run stopped by Ctrl-C, a crash or SIGKILL can be resumed with
``run_suite(..., resume=partial_folder)`` and never leaves a truncated ``results.json``.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit import checkpoint
from audit.context import Context, Predictions, content_key  # noqa: F401 - Predictions re-exported for callers
from audit.data.base import DataBundle
from audit.errors import ConfigError
from audit.execution import Backend, LocalBackend, Step, StepOutcome, open_backend
from audit.gates import evaluate_gates, exit_code, overall_status
from audit.import_clock import import_clock
from audit.models.base import ModelAdapter
from audit.results import CheckRecord, Metric, RunResults, save_results
from audit.suite import ExecutionSpec, Suite, load_suite


@dataclass
class RunOutcome:
    run_dir: Path
    results: RunResults

    @property
    def exit_code(self) -> int:
        return self.results.exit_code


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def new_run_id() -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def run_suite(
    suite: Suite | str | Path | None,
    *,
    output: str | Path | None = None,
    seed: int | None = None,
    log: Callable[[str], None] | None = _stderr,
    resume: str | Path | None = None,
    execution: ExecutionSpec | dict[str, Any] | None = None,
) -> RunOutcome:
    """Run a suite end to end and return the finished run folder and its results.

    ``resume`` names the partial folder of an interrupted run: its finished checks are reused
    and only the missing ones run. ``suite`` may then be None (the stopped run's suite file is
    used) and ``seed`` defaults to the stopped run's seed. ``execution`` (the CLI's ``--ray``)
    replaces the suite's ``execution`` section: where the checks run, never what they compute.
    """
    log = log or (lambda message: None)
    t0 = time.perf_counter()
    state: dict[str, Any] | None = None
    if resume is not None:
        state = checkpoint.read_state(Path(resume))
        if suite is None:
            suite = state.get("suite_file") or ""
            if not suite:
                raise ConfigError(f"--resume {resume}: the stopped run had no suite file; pass the suite")
        if seed is None:
            seed = state["seed"]
    if suite is None:
        raise ConfigError("no suite given")
    if isinstance(suite, dict):  # a parsed suite document (Python callers)
        from audit.suite import parse_suite

        suite = parse_suite(suite, "<suite dict>")
    elif isinstance(suite, (str, Path)):
        suite = load_suite(suite)
    elif not isinstance(suite, Suite):
        raise ConfigError(
            f"run_suite() takes a suite file path, a Suite or a suite dict; got {type(suite).__name__} "
            "(to audit a model object on DataFrames use audit.audit(model, test_df, target=...))"
        )
    seed = suite.seed if seed is None else seed
    if seed != suite.seed:
        suite = suite.model_copy(update={"seed": seed})  # private attributes (the source path) are copied too
    if state is None:
        check_output_dir(suite, output)
    spec = suite.execution
    if execution is not None:
        override = ExecutionSpec.model_validate(execution)
        # a bare `--ray` keeps the suite's own Ray settings (its address or num_cpus) when it has them
        if not (override.backend == "ray" and override.address is None and override.num_cpus is None and spec.backend == "ray"):
            spec = override
    backend = open_backend(spec, log)  # a cluster that cannot be reached stops the run here, before any work
    from audit.threads import machine_threads

    try:
        with machine_threads():  # BLAS / OpenMP / torch threads chosen once for the machine, not per check
            return _run(suite, seed, output, log, state, resume, backend, t0)
    finally:
        backend.close()


def _run(suite: Suite, seed: int, output: str | Path | None, log: Callable[[str], None], state: dict[str, Any] | None,
         resume: str | Path | None, backend: Backend, t0: float) -> RunOutcome:
    """``run_suite`` once the suite, the seed and the backend are settled."""
    from audit.data.tabular import build_bundle
    from audit.models.build import build_model
    from audit.registry import CHECKS

    timings: dict[str, float] = {}
    log(f"audit: suite '{suite.name}' ({len(suite.models)} models, {len(suite.planned_checks())} checks, seed {seed})")
    for note in suite.deprecations:  # told even with --quiet: the suite stops working next release
        _stderr(f"audit: warning: {note}")
    if backend.summary:
        log(f"  {backend.name:<6} {backend.summary}")
    t = time.perf_counter()
    bundle = build_bundle(suite)
    check_data_references(suite, bundle)
    timings["data"] = time.perf_counter() - t
    reference = f" / {len(bundle.reference)} reference" if bundle.reference is not None else ""
    log(f"  data   {bundle.source}: {len(bundle.train)} train / {len(bundle.test)} test{reference} rows ({timings['data']:.2f}s)")
    for note in bundle.notes:
        log(f"  data   note: {note}")
    if len(bundle.train) == 0:
        log("  data   evaluation-only: no training rows; checks that need them are skipped, saying why")

    models: dict[str, ModelAdapter] = {}
    model_info: dict[str, dict[str, Any]] = {}
    for i, spec in enumerate(suite.models):
        t = time.perf_counter()
        with import_clock() as imported:  # first imports of sklearn / torch / transformers, timed apart
            models[spec.name], model_info[spec.name] = build_model(spec, i, suite, bundle, seed)
        timings[f"model:{spec.name}"] = time.perf_counter() - t - imported.seconds
        if imported.packages:
            timings[f"import:{spec.name}"] = imported.seconds
            log(f"  import {', '.join(imported.packages)} ({imported.seconds:.2f}s, once per process)")
        how = "cached" if model_info[spec.name].get("cached") else {"load": "loaded", "predictions": "predictions read", "memory": "in memory"}.get(spec.source, "trained")
        log(f"  model  {spec.name}: {how} ({timings[f'model:{spec.name}']:.2f}s)")

    identity = {
        "suite_sha256": checkpoint.suite_sha256(suite),
        "data_sha256": bundle.data_hash,
        "seed": seed,
        "models": {name: info.get("hash") for name, info in model_info.items()},
    }
    if state is not None:
        partial = Path(resume)  # type: ignore[arg-type]
        checkpoint.verify_identity(state, identity, partial)
        run_id, out_root = state["run_id"], partial.parent
    else:
        out_root = Path(output if output is not None else suite.output.dir) / suite.name
        run_id, partial = _claim_partial(out_root)
    lock = checkpoint.RunLock(partial)
    lock.acquire()
    try:
        if state is None:
            checkpoint.write_state(partial, {"run_id": run_id, "suite_name": suite.name, "suite_file": str(suite.source) if suite.source else None, **identity})
            done = {}
        else:
            done = checkpoint.load_checkpoints(partial, log)
            log(f"  resume {partial}: {len(done)} finished checks reused")
        ctx = Context(suite, bundle, models, seed, partial, log)
        backend.attach(ctx)
        records, metrics = _run_checks(ctx, suite, CHECKS, timings, log, done, backend)
        results = _assemble(suite, bundle, models, model_info, records, metrics, run_id, seed, timings, t0)
        if state is not None:
            results.manifest["resumed"] = {"reused_checks": len(done), "from": str(partial)}
        if backend.name != "local":
            results.manifest["execution"] = {"backend": backend.name, "where": getattr(backend, "description", "")}
        _write_outputs(ctx, suite, results, partial)
        final = out_root / run_id
        os.replace(partial, final)
    except BaseException as exc:
        # keep the partial folder: its checkpoints make the run resumable
        if not isinstance(exc, ConfigError):
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by {exc.__class__.__name__}"
            hint = f"audit: run {why}; finished checks are saved. Resume with: audit run --resume {partial}"
            print(hint, file=sys.stderr, flush=True)
        raise
    finally:
        lock.release()
    checkpoint.cleanup(final)
    return RunOutcome(final, results)


def check_output_dir(suite: Suite, output: str | Path | None) -> None:
    """Refuse, before any work, an output folder where run folders cannot be created.

    ``output`` (the CLI's ``--output``) overrides the suite's ``output.dir``; both go through
    :func:`audit.validation.output_dir_error`.
    """
    from audit.validation import output_dir_error

    problem = output_dir_error(output if output is not None else suite.output.dir, suite.name)
    if problem is not None:
        key = "output folder" if output is not None else f"{suite.source or '<suite>'}: output.dir"
        raise ConfigError(f"{key}: {problem}")


def check_data_references(suite: Suite, bundle: DataBundle) -> None:
    """Refuse column and group names the loaded data lacks, before any model is built."""
    from audit.data.references import data_reference_problems

    problems = data_reference_problems(suite, bundle)
    if problems:
        where = suite.source or "<suite>"
        raise ConfigError("\n".join(f"{where}: {loc}: {message}" for loc, message in problems))


def _claim_partial(out_root: Path) -> tuple[str, Path]:
    """A fresh run id and its partial folder, created exclusively (concurrent runs never share one)."""
    for _ in range(20):
        run_id = new_run_id()
        partial = out_root / f".{run_id}.partial"
        if (out_root / run_id).exists():
            continue
        try:
            partial.mkdir(parents=True)
        except FileExistsError:
            continue
        return run_id, partial
    raise RuntimeError(f"{out_root}: could not find a free run id")


def _run_checks(
    ctx: Context,
    suite: Suite,
    registry: Any,
    timings: dict[str, float],
    log: Callable[[str], None],
    done: dict[str, tuple[CheckRecord, list[Metric]]] | None = None,
    backend: Backend | None = None,
) -> tuple[list[CheckRecord], list[Metric]]:
    """Run every planned step, reusing ``done`` checkpoints and checkpointing each new one.

    Skipped and reused steps are settled here; the others go to ``backend`` (default: local, one
    after another in plan order). Each finished step is checkpointed at once; its log line and its
    record are released in plan order, so the records, the metrics and the progress lines read
    the same whichever backend ran the steps and in whichever order they finished.
    """
    done = done or {}
    backend = backend or LocalBackend()
    plan: list[tuple[Any, dict[str, Any], ModelAdapter | None]] = []
    for spec in suite.planned_checks():
        cls = registry.resolve(spec.name, suite.data.modality, spec.variant)
        params = cls.Params.model_validate(spec.params)
        check = cls(params)
        check.check_name = spec.name  # results carry the suite's name for it (the pillar for built-ins)
        targets = [None] if cls.scope == "data" else [ctx.models[m] for m in (spec.models or list(ctx.models))]
        plan += [(check, params.model_dump(mode="json"), model) for model in targets]
    records: list[CheckRecord] = []
    metrics: list[Metric] = []
    finished: dict[int, tuple[CheckRecord, list[Metric], list[str]]] = {}  # step -> (record, metrics, log lines)
    released = 0

    def release() -> None:
        """Log and collect the finished steps that directly follow the last one released."""
        nonlocal released
        while released + 1 in finished:
            released += 1
            record, record_metrics, lines = finished.pop(released)
            for line in lines:
                log(line)
            records.append(record)
            metrics.extend(record_metrics)

    jobs: dict[int, Step] = {}
    for step, (check, params, model) in enumerate(plan, start=1):
        who = model.name if model is not None else "data"
        name = check.check_name
        where = {"pillar": check.pillar_name(), "implementation": check.name}
        reason = check.supports(model) or check.requirement_reason(model, ctx.data)
        if reason is not None:
            # skipped is a status: the record says why, and a gate on this model names it
            record = CheckRecord(check=name, model=who, status="skipped", reason=reason, params=params, **where)
            finished[step] = (record, [], [f"  [{step}/{len(plan)}] {who} · {name}: skipped ({reason})"])
            continue
        key = checkpoint.step_key(step, who, name)
        reused = done.get(key)
        if reused is not None and reused[0].check == name and reused[0].model == who and reused[0].params == params:
            record, record_metrics = reused
            timings[f"check:{who}/{name}"] = record.duration_s
            finished[step] = (record, record_metrics, [f"  [{step}/{len(plan)}] {who} · {name}: reused from checkpoint"])
            continue
        shutil.rmtree(ctx.run_dir / "artefacts" / who / name, ignore_errors=True)  # leftovers of a killed attempt
        jobs[step] = Step(step, key, check, params, model, where)

    def finish(outcome: StepOutcome) -> None:
        job, record = jobs[outcome.index], outcome.record
        checkpoint.save_checkpoint(ctx.run_dir, job.key, record, outcome.metrics)
        timings[f"check:{job.who}/{job.name}"] = outcome.seconds
        mark = {"ok": "ok", "warn": "warn", "error": "ERROR"}[record.status]
        line = f"  [{job.index}/{len(plan)}] {job.who} · {job.name}: {mark} ({record.duration_s:.2f}s)" + (f" {record.error}" if record.error else "")
        finished[job.index] = (record, outcome.metrics, [*outcome.logs, line])
        release()

    release()
    backend.run_steps(ctx, list(jobs.values()), finish, log)
    release()
    if released != len(plan):  # a backend that lost a step is a bug, not a user error
        raise RuntimeError(f"the {backend.name} backend finished {released} of {len(plan)} steps")
    return records, metrics


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("audit", "numpy", "pandas", "scikit-learn", "fairlearn", "torch", "shap", "captum", "transformers", "textattack", "pydantic", "skops", "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _assemble(suite: Suite, bundle: DataBundle, models: dict[str, ModelAdapter], model_info: dict[str, dict[str, Any]], records: list[CheckRecord], metrics: list[Metric], run_id: str, seed: int, timings: dict[str, float], t0: float) -> RunResults:
    import platform

    gates = evaluate_gates(suite.effective_gates(), metrics, records)
    errors = sum(r.status == "error" for r in records)
    status = overall_status(gates, errors)
    timings["total"] = time.perf_counter() - t0
    manifest = {
        "suite_file": str(suite.source) if suite.source else None,
        "suite_sha256": checkpoint.suite_sha256(suite),
        "data_source": bundle.source,
        "data_sha256": bundle.data_hash,
        "rows": {"train": len(bundle.train), "test": len(bundle.test), **({"reference": len(bundle.reference)} if bundle.reference is not None else {})},
        "test_sha256": content_key(bundle.test),  # the exact test rows (features, labels): audit diff compares runs on the same ones
        "data_notes": list(bundle.notes),
        "seed": seed,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _package_versions(),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "deprecations": suite.deprecations,
    }
    schema = bundle.schema
    return RunResults(
        run_id=run_id,
        suite={"name": suite.name, "description": suite.description, "target": schema.target, "classes": [str(c) for c in schema.classes], "positive_label": str(schema.positive_label), "sensitive": list(schema.sensitive), "intersections": [list(g) for g in schema.intersections], "features": list(schema.features)},
        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        status=status,
        exit_code=exit_code(status),
        manifest=manifest,
        models={name: {**model_info[name], "modality": models[name].modality} for name in models},
        gates=gates,
        checks=records,
        metrics=metrics,
    )


def _write_outputs(ctx: Context, suite: Suite, results: RunResults, folder: Path) -> None:
    formats = set(suite.output.formats)
    if "predictions" in formats and ctx.schema.classes:  # a corpus (generation) has no class probabilities to write
        from audit.report.predictions import write_predictions

        test = ctx.data.test
        probabilities = {name: ctx.predict(model, test).proba for name, model in ctx.models.items()}  # cached by the checks
        write_predictions(test, ctx.schema.classes, probabilities, folder / "predictions.csv")
    if "junit" in formats:
        from audit.report.junit import write_junit

        write_junit(results, folder / "junit.xml")
    if "html" in formats:
        from audit.report.html import write_html

        write_html(results, folder, folder / "report.html")
    save_results(results, folder / "results.json")  # last: its presence marks a complete run
