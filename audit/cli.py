"""Command line: ``audit run | validate | schema | list``.

Only argparse is imported at module level, so ``audit --help`` stays instant and never loads
torch, shap or transformers. User mistakes (``AuditError``) print one message and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Further commands live in their own modules, each with ``register(subparsers)`` that adds the
# parser and sets ``func``; these modules import only the standard library at top level.
COMMAND_MODULES: list[str] = [
    # CI gating commands (gate, diff, card) below this line
    "audit.commands.gate",
    "audit.commands.diff",
    "audit.commands.card",
    # dashboard command below this line
    "audit.commands.dashboard",
]


def _cmd_run(args: argparse.Namespace) -> int:
    from audit.commands.progress import ConsoleLog
    from audit.engine import run_suite
    from audit.errors import ConfigError
    from audit.gates import exit_code
    from audit.report.console import summary

    if args.mlflow is not None and args.suite is None and args.mlflow.endswith((".yaml", ".yml")):
        args.suite, args.mlflow = args.mlflow, ""  # `audit run --mlflow suite.yaml`: the flag took the suite
    if args.ray is not None and args.suite is None and args.ray.endswith((".yaml", ".yml")):
        args.suite, args.ray = args.ray, ""  # `audit run --ray suite.yaml`: the flag took the suite
    if args.suite is None and args.resume is None:
        raise ConfigError("audit run needs a suite file (or --resume RUN_DIR)")
    if args.output is not None and args.resume is None:
        from audit.validation import output_dir_error

        problem = output_dir_error(args.output)
        if problem is not None:
            raise ConfigError(f"--output: {problem}")
    mlflow_spec = None
    if args.suite is not None:
        from audit.suite import load_suite

        mlflow_spec = load_suite(args.suite).output.mlflow
    execution = None if args.ray is None else {"backend": "ray", "address": args.ray or None}
    log = None if args.quiet else ConsoleLog()
    try:
        outcome = run_suite(args.suite, output=args.output, seed=args.seed, log=log, resume=args.resume, execution=execution)
    finally:
        if log is not None:
            log.close()
    human = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the JSON document only
    if not (args.json and args.quiet):
        print(summary(outcome.results, str(outcome.run_dir)), file=human, flush=True)
    document = None
    if args.json:
        from audit.commands.jsonout import verdict_document

        document = verdict_document("run", outcome.results, outcome.run_dir, fail_on=args.fail_on)
    if args.mlflow is not None or mlflow_spec is not None:
        from audit.integrations.mlflow import log_run, resolve_tracking_uri

        run_id = log_run(outcome.run_dir, outcome.results, mlflow_spec, tracking_uri=args.mlflow or None)
        uri = resolve_tracking_uri(mlflow_spec, args.mlflow or None)
        if document is not None:
            document["mlflow"] = {"run_id": run_id, "tracking_uri": uri}
        if not (args.json and args.quiet):
            print(f"MLflow run {run_id} logged to {uri}", file=human)
    if document is not None:
        from audit.commands.jsonout import dumps

        print(dumps(document))
    return exit_code(outcome.results.status, args.fail_on)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from audit.errors import ConfigError
    from audit.validation import validate_suite

    suite, problems = validate_suite(args.suite, data_files=not args.no_data)
    if args.json:
        return _validate_json(args, suite, problems)
    if problems or suite is None:
        raise ConfigError("\n".join(map(str, problems)))  # one line per problem: <file>: <key path>: <message>
    for note in suite.deprecations:
        _log(f"audit: warning: {note}")
    files = len(suite.data.files()) + sum(m.predictions is not None for m in suite.models)
    checked = f"; {files} data file{'s' if files != 1 else ''} checked" if files and not args.no_data else ""
    print(f"{args.suite}: valid suite '{suite.name}' ({len(suite.models)} models, {len(suite.checks)} checks, {len(suite.gates)} gates{checked})")
    return 0


def _validate_json(args: argparse.Namespace, suite: Any, problems: list[Any]) -> int:
    """``validate --json``: the verdict and every problem as one object; the problems also on stderr."""
    from audit.commands.jsonout import dumps, validate_document

    document = validate_document(args.suite, suite, problems, data_files=not args.no_data)
    for problem in problems:
        _log(f"audit: error: {problem}")
    print(dumps(document))
    return int(document["exit_code"])


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.results:
        from audit.results import json_schema
    else:
        from audit.schema_json import suite_json_schema as json_schema
    print(json.dumps(json_schema(), indent=2))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from audit.registry import CHECKS, DATASETS, RECIPES

    if args.json:
        from audit.commands.jsonout import dumps, list_document

        print(dumps(list_document(CHECKS, RECIPES, DATASETS)))
        return 0
    if not args.params:
        for title, registry in (("checks", CHECKS), ("model recipes", RECIPES), ("datasets", DATASETS)):
            print(f"{title}: {', '.join(registry.names())}")
        return 0
    print("checks (name [variant] on modalities: parameters)")
    shown: dict[tuple[str, str, Any], list[str]] = {}
    for name, modality, variant, cls in CHECKS.implementations():
        label = "" if variant == modality else f" [{variant}]"
        shown.setdefault((name, label, cls), []).append(modality)
    for (name, label, cls), modalities in shown.items():
        print(f"  {name}{label} on {', '.join(modalities)}: {_params_line(cls.Params)}")
    print("model recipes (name: parameters)")
    for name in RECIPES.names():
        print(f"  {name}: {_params_line(RECIPES.get(name).Params)}")
    print(f"datasets: {', '.join(DATASETS.names())}")
    return 0


def _params_line(params: Any) -> str:
    """'a=1, b=[0.1, 0.2], c (required)': a Params model's fields with their defaults."""
    out = []
    for name, field in params.model_fields.items():
        key = field.alias or name
        out.append(f"{key} (required)" if field.is_required() else f"{key}={field.get_default(call_default_factory=True)!r}")
    return ", ".join(out) or "none"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audit", description="Audit ML models from a declarative suite file: performance, fairness and more, gated for CI.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite and write a run folder (exit 0 pass, 1 gate failed, 2 bad input)")
    run.add_argument("suite", nargs="?", help="suite YAML file (optional with --resume)")
    run.add_argument("--output", "-o", default=None, help="folder for run folders (default: the suite's output.dir, 'reports')")
    run.add_argument("--seed", type=int, default=None, help="override the suite's seed")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress lines or bars (with --json: nothing on stderr but errors)")
    run.add_argument("--json", action="store_true", help="print one JSON document on stdout (verdict, exit code, run folder, gates, counts); the summary goes to stderr")
    run.add_argument("--resume", metavar="RUN_DIR", default=None, help="finish an interrupted run: its hidden '.<run id>.partial' folder")
    run.add_argument("--fail-on", choices=("fail", "warn"), default="fail", help="exit 1 on failing gates (default) or on warnings too")
    run.add_argument(
        "--mlflow", nargs="?", const="", default=None, metavar="URI",
        help="also log the run to MLflow (the suite's output.mlflow does too); URI: tracking URI (default: output.mlflow.tracking_uri, MLFLOW_TRACKING_URI, ./mlruns)",
    )
    run.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="run the checks as Ray tasks (overrides the suite's execution); ADDRESS: a cluster (auto, ray://head:10001); none: start a local Ray",
    )
    run.set_defaults(func=_cmd_run)

    validate = sub.add_parser(
        "validate",
        help="check a suite file without running it: every problem at once, data file headers included",
    )
    validate.add_argument("suite")
    validate.add_argument("--no-data", action="store_true", help="do not open the data files (schema, names, parameters and gates only)")
    validate.add_argument("--json", action="store_true", help="print the verdict and every problem as one JSON document")
    validate.set_defaults(func=_cmd_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of suite files (or of results.json)")
    schema.add_argument("--results", action="store_true", help="the schema of results.json instead")
    schema.set_defaults(func=_cmd_schema)

    lister = sub.add_parser("list", help="list registered checks, model recipes and datasets")
    lister.add_argument("--params", action="store_true", help="also each check's and recipe's parameters with their defaults")
    lister.add_argument("--json", action="store_true", help="print checks, recipes and datasets (with parameters) as one JSON document")
    lister.set_defaults(func=_cmd_list)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    for command in sub.choices.values():
        _plain_help(command)
    return parser


_RST = (
    (re.compile(r"``([^`]+)``"), r"\1"),  # ``literal`` -> literal
    (re.compile(r":(?:func|class|meth|mod|attr|data|ref):`~?([^`<]+?)(?:\s*<[^>]*>)?`"), r"\1"),  # :func:`x` -> x
)


def _plain(text: str) -> str:
    for pattern, replacement in _RST:
        text = pattern.sub(replacement, text)
    return text


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Help text as plain text: docstrings reused as descriptions lose their reST markup, and a
    description (which argparse prints verbatim, unlike ``help=``) shows ``%`` not ``%%``."""
    if parser.description:
        parser.description = _plain(parser.description)
        if "%(prog)" not in parser.description:
            parser.description = parser.description.replace("%%", "%")
    if parser.epilog:
        parser.epilog = _plain(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = _plain(action.help)


def _version() -> str:
    from audit import __version__

    return f"audit {__version__}"


# Exit status when the reader of stdout went away (``audit diff A B | head -1``): what a shell
# reports for a program that SIGPIPE ended (128 + 13), without Python's traceback.
CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)  # --help, --version and usage errors print and exit here
        except SystemExit:
            sys.stdout.flush()  # argparse ignores a failed write; the buffered text fails here instead
            raise
        func: Callable[[argparse.Namespace], int] = args.func
        code = _dispatch(func, args)
        sys.stdout.flush()  # a closed pipe shows up here for buffered output
        return code
    except BrokenPipeError:
        _detach_stdout()
        return CLOSED_PIPE


def _dispatch(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from audit.errors import AuditError

    try:
        return func(args)
    except AuditError as exc:
        print(f"audit: error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            from audit.commands.jsonout import dumps, error_document

            print(dumps(error_document(args.command, str(exc), exc.exit_code)))
        return exc.exit_code
    except KeyboardInterrupt:
        print("audit: interrupted", file=sys.stderr)
        return 130


def _detach_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (an in-process caller)
        pass


if __name__ == "__main__":
    raise SystemExit(main())
