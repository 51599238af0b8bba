"""The ``gradproof`` command line. Heavy imports (SymPy, torch) happen inside the commands,
so that ``gradproof --help`` answers at once."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from .expressions import add_expression_options

__all__ = ["main", "parse_sizes"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_SECONDS = 3600.0  # --time-limit: an hour per answer is already far past any real answer


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


class _ArgumentError(Exception):
    """argparse's complaint about the command line, raised instead of exiting so that ``--json``
    can answer it as a JSON error; without ``--json`` argparse's own message and exit follow."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (its subcommands' too) whose usage errors reach ``main``."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise _ArgumentError(self, message)


def parse_sizes(items: Sequence[str]) -> dict[str, int]:
    """``["n=3,d_k=2"]`` or ``["n=3", "d_k=2"]`` -> ``{"n": 3, "d_k": 2}``.

    >>> parse_sizes(["n=3,d_k=2"])
    {'n': 3, 'd_k': 2}
    >>> parse_sizes(["n=three"])
    Traceback (most recent call last):
    ...
    gradproof.cli.UsageError: --sizes wants NAME=INTEGER pairs like n=3,d_k=2; got 'n=three'
    """
    sizes: dict[str, int] = {}
    for item in items:
        for pair in filter(None, item.split(",")):
            name, _, value = pair.partition("=")
            if not name.strip() or not value.strip().lstrip("-").isdigit():
                raise UsageError(f"--sizes wants NAME=INTEGER pairs like n=3,d_k=2; got {pair!r}")
            sizes[name.strip()] = int(value)
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradproof",
        description="Derive, check and explain the gradients of a neural-network lecture: "
        "exact SymPy derivations, labelled 'proved' (symbolic, all sizes), "
        "'proved n<=N' (entry by entry at the listed sizes), 'numeric' or 'failed'.",
        epilog="Examples: gradproof list; gradproof derive softmax_ce; "
        "gradproof derive attention --sizes n=2,d_k=3 --json; gradproof graph attention --adjoints -o attention.svg. "
        "With --json a command prints one object {\"schema\": \"gradproof/KIND\", \"version\": 1, ...}, described by "
        "the JSON Schema schemas/KIND.json; its errors are gradproof/error objects on stdout, same exit status.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("list", help="the catalog: every lecture topic and its targets")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    derive = commands.add_parser(
        "derive",
        help="derive one catalog entry: steps with their status, results in three notations",
        description="Derive NAME with SymPy and check every step. Exit status 1 if any step failed.",
    )
    derive.add_argument("names", nargs="*", metavar="NAME", help="catalog entry (see 'gradproof list'), or entry:claim "
                        "for the entry that holds the claim")
    derive.add_argument("--all", action="store_true", help="derive every catalog entry")
    derive.add_argument("--jobs", type=int, metavar="N", help="prove claims, check graph models and render entries in N "
                        "processes at once; the output is the same (default: one per core when several "
                        "entries are named, else 1)")
    derive.add_argument("--json", action="store_true", help="machine-readable output")
    derive.add_argument(
        "--sizes",
        nargs="+",
        default=[],
        metavar="NAME=N",
        help="concrete sizes at which to show (and also prove) the entrywise results, e.g. n=3,d_k=2",
    )
    add_expression_options(derive)
    graph = commands.add_parser(
        "graph",
        help="draw a model's computation graph, optionally with every adjoint",
        description="Draw the computation graph of a model (or of a catalog entry's model): tensors "
        "as boxes with their shapes, ops as ellipses, layered top to bottom. Uses Graphviz's dot when "
        "installed, matplotlib otherwise. Models: perceptron, bp, softmax_ce, kl, entropy, kl_pq, attention, "
        "causal_attention, multihead_attention, layernorm, ffn, encoder, conv_layer, max_pool, avg_pool, cnn, "
        "densenet.",
        epilog="Example: gradproof graph attention --adjoints -o attention.svg",
    )
    graph.add_argument("name", metavar="NAME", nargs="?", help="a model, or a catalog entry that has one (or --expr)")
    graph.add_argument("--format", choices=("svg", "png", "pdf", "dot", "json"), default=None,
                       help="picture or source format (default: from -o's extension, else svg); -o's extension "
                       "must agree with it")
    graph.add_argument("--adjoints", action="store_true", help="annotate each named tensor with its adjoint dX = ...")
    graph.add_argument("-o", "--output", metavar="FILE", help="write here (default: NAME.FORMAT; '-' for stdout)")
    graph.add_argument("--engine", choices=("auto", "dot", "matplotlib"), default="auto",
                       help="renderer for svg/png (default: dot when installed, else matplotlib)")
    graph.add_argument("--json", action="store_true", help="same as --format json, to stdout unless -o")
    add_expression_options(graph)
    verify = commands.add_parser(
        "verify",
        help="check every gradient numerically against PyTorch autograd on Hypothesis inputs",
        description="Compile each catalog target's formula (entrywise: derive's closed form at small sizes; "
        "matrix: graphs/' reverse-mode form at any size) and compare it with autograd of an independent "
        "torch.nn.functional implementation, on Hypothesis-drawn inputs. Tolerances come from the dtype and "
        "the problem's magnitude and are printed with each result. Exit status 1 if any check failed.",
        epilog="Examples: gradproof verify; gradproof verify attention --dtype float32; "
        "gradproof verify attention:dQ --size large; gradproof verify --device cuda --json",
    )
    verify.add_argument("names", nargs="*", metavar="NAME",
                        help="catalog entries, or ENTRY:CLAIM (as in 'gradproof problems'; ENTRY.CLAIM too) or "
                        "ENTRY:TARGET for one target (default: every target)")
    verify.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                        help="where to compute (auto: cuda when available; default cpu)")
    verify.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    verify.add_argument("--examples", type=int, default=50, metavar="N",
                        help="Hypothesis examples per check, each a batch of problems (default 50)")
    verify.add_argument("--size", choices=("small", "large"), default="small",
                        help="small: sizes drawn by Hypothesis, full gradients compared; large: production "
                        "sizes (attention n=512, d_k=64), random-direction checks; the entrywise route is "
                        "always at small sizes")
    verify.add_argument("--route", choices=("entrywise", "matrix", "both"), default="both", help="default both")
    verify.add_argument("--seed", type=int, default=None,
                        help="draw a different stream of examples (default: the same derandomized ones every run)")
    verify.add_argument("--json", action="store_true", help="machine-readable records")
    add_expression_options(verify)
    report = commands.add_parser(
        "report",
        help="write derivation reports a lecturer can hand out (Markdown, HTML, LaTeX/PDF, JSON)",
        description="Write one report per catalog entry: the question, the forward computation, the computation "
        "graph with adjoints, every step with its status (proved / proved n<=N / numeric), the results in three "
        "notations, the numeric checks against autograd, and the commands that reproduce it. HTML is one "
        "self-contained file (MathML math, inline SVG, no network). Exit status 1 if anything failed.",
        epilog="Examples: gradproof report attention --format html -o out; gradproof report --all -o reports "
        "(the gallery, with index pages)",
    )
    report.add_argument("names", nargs="*", metavar="NAME", help="catalog entries (see 'gradproof list')")
    report.add_argument("--all", action="store_true", help="every catalog entry, with index pages")
    report.add_argument("--format", action="append", choices=("md", "html", "json", "tex", "pdf"), default=None,
                        help="repeat for several (default: md and html)")
    report.add_argument("-o", "--output", metavar="DIR", default=".", help="directory to write into (default .)")
    report.add_argument("--examples", type=int, default=20, metavar="N",
                        help="Hypothesis examples per numeric check (default 20)")
    report.add_argument("--lang", choices=("en", "zh"), default="en",
                        help="en (default), or zh: the lecture's Chinese for titles, sections, reasons and captions")
    report.add_argument("--json", action="store_true", help="on stdout, what was written (machine-readable); "
                        "errors as JSON")
    add_expression_options(report)
    rules = commands.add_parser(
        "rules", help="every VJP rule of the table with how it was proved",
        description="List every VJP rule of graphs/ops.py with its proof: 'proved' at every size (the rule's index "
        "form at symbolic sizes, with Kronecker deltas collapsed) or proved only entry by entry at listed shapes. "
        "Exit 1 if a rule failed.",
        epilog="Examples: gradproof rules; gradproof rules --json")
    rules.add_argument("--json", action="store_true", help="machine-readable output (schemas/rules.json)")
    problems = commands.add_parser("problems", help="the homework problems students can be checked on",
                                   description="List the built-in homework problems: id, statement, the symbols an "
                                   "answer may use, assumptions.")
    problems.add_argument("--json", action="store_true", help="machine-readable output")
    problems.add_argument("--set", metavar="FILE.toml", help="also list an instructor's problem file (checked as loaded)")
    problems.add_argument("--reveal", action="store_true", help="also show each problem's key (a forward problem's derived "
                          "gradient) and reference answer: for the instructor, not the class")
    check = commands.add_parser(
        "check", help="check one answer to a homework problem",
        description="Read ANSWER (plain math or LaTeX: p_i - y_i, \\frac{1}{\\sqrt{d_k}} dS K, A^\\top G) and compare it "
        "with the derived gradient at random points and several sizes. Prints the verdict (correct, incorrect, "
        "invalid), a score, feedback and, when wrong, a counterexample. Exit 0 whatever the verdict.",
        epilog="Examples: gradproof check softmax_ce:grad_z 'p_i - y_i'; gradproof check information:grad_q '-p_i/q_i' --json "
        "(an answer may start with '-')",
    )
    check.add_argument("problem", metavar="PROBLEM", help="a problem id (see 'gradproof problems'): entry:claim, or "
                       "entry.claim")
    check.add_argument("answer", metavar="ANSWER", help="the answer, quoted")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--set", metavar="FILE.toml", help="an instructor's problem file holding PROBLEM")
    check.add_argument("--reveal", action="store_true", help="add the problem's reference answer to the feedback of an "
                       "answer that is not correct (by default the key is never shown)")
    check.add_argument("--time-limit", default="10", metavar="S",
                       help=f"seconds an answer may take to grade before it is called invalid (default 10, at most "
                       f"{MAX_SECONDS:g})")
    grade = commands.add_parser(
        "grade", help="grade a class's answers from CSV; results CSV and Gradescope files",
        description="Grade every answer in SUBMISSIONS (CSV, long: student,problem,answer; or wide: student then "
        "one column per problem id) against PROBLEMS ('lecture', the built-in set, or an instructor's TOML problem "
        "file, whose problems add to the built-in ones; see verify/homework/problem_file.py). Each graded answer is "
        "committed to OUTDIR/grades.sqlite (the store); OUTDIR/results.csv, OUTDIR/gradescope/FOLDER/results.json "
        "and the --report pages are exports, rebuilt from the store at the end of every run. Run it again to resume: "
        "answers whose text and problem are unchanged are kept, changed ones are regraded. One run per OUTDIR at a "
        "time. A blank answer scores 0 ('no answer'); the last of duplicate rows is graded.",
        epilog="Examples: gradproof grade lecture examples/class.csv -o graded; "
        "gradproof grade lecture --single submission.csv -o /autograder/results",
    )
    grade.add_argument("problems", metavar="PROBLEMS", help="'lecture' (the built-in problems) or FILE.toml")
    grade.add_argument("submissions", metavar="SUBMISSIONS", nargs="?", help="the class's CSV")
    grade.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="where results go")
    grade.add_argument("--single", metavar="SUBMISSION", help="one student's CSV (problem,answer): writes "
                       "OUTDIR/results.json for an autograder container")
    grade.add_argument("--time-limit", default="10", metavar="S",
                       help=f"seconds an answer may take to grade before it is called invalid (default 10, at most "
                       f"{MAX_SECONDS:g})")
    grade.add_argument("--workers", type=int, default=None, metavar="N",
                       help="answers graded at once, one worker process each (default: one per core, at most 4)")
    grade.add_argument("--report", metavar="DIR", help="also write one HTML feedback page per student (and an "
                       "index.html) to DIR: each answer typeset, its verdict, feedback and counterexample")
    grade.add_argument("--reveal", action="store_true", help="add each problem's reference answer to the feedback of answers "
                       "that are not correct, in the exports and pages only (the store keeps the feedback as graded)")
    grade.add_argument("--json", action="store_true", help="on stdout, what was graded and written (schemas/grade.json); "
                       "errors as JSON")
    grade.add_argument("--drop-missing", action="store_true", help="remove from the store and the exports (results.csv, "
                       "Gradescope folders, --report pages) the answers that SUBMISSIONS no longer holds; without it "
                       "they are kept, with a warning that counts them")
    layer = commands.add_parser(
        "check-layer", help="check a NumPy layer's backward (NAME_forward/NAME_backward in FILE.py) at drawn shapes",
        description="Import FILE.py (your own code, run on your machine) and check NAME_backward(dout, cache) against "
        "a float64 numerical derivative of NAME_forward (Ridders' extrapolation), entry by entry, for each output on "
        "its own, at shapes drawn from --size ranges (distinct where they can be, shrunk to the smallest failing "
        "ones). --shape gives the forward's arrays in order; --param its extra arguments (JSON). With --loss, NAME "
        "is a `loss, grad = NAME(...)` function. Exit 0 if every output passed, 1 if one failed, 2 on bad input.",
        epilog="Examples: gradproof check-layer layers.py affine --shape x=N,D --shape w=D,M --shape b=M "
        "--size N=1:4,D=1:4,M=1:4; gradproof check-layer layers.py conv --shape x=N,C,H,W --shape w=F,C,3,3 "
        "--shape b=F --size N=1:2,C=1:2,H=4:6,W=4:6,F=1:2 --param '{\"stride\": 1, \"pad\": 1}'; "
        "gradproof check-layer softmax.py softmax_loss_naive --loss --shape W=D,C --shape X=N,D --shape y=N "
        "--domain y=labels:C --param 0.1 --size N=1:5,D=1:4,C=2:5",
    )
    layer.add_argument("file", metavar="FILE.py", help="the layer file")
    layer.add_argument("name", metavar="NAME", help="the layer: NAME_forward and NAME_backward (or NAME with --loss)")
    layer.add_argument("--shape", action="append", default=[], metavar="X=DIMS",
                       help="an array of the forward, in order: its dimensions, numbers or size names (x=N,D)")
    layer.add_argument("--size", action="append", default=[], metavar="N=LOW:HIGH",
                       help="a size's range or value (N=1:4 or D=3; comma-separated pairs allowed)")
    layer.add_argument("--param", action="append", default=[], metavar="JSON",
                       help="an extra argument after the arrays, as JSON ('{\"stride\": 1, \"pad\": 0}', 0.1)")
    layer.add_argument("--domain", action="append", default=[], metavar="X=DOMAIN",
                       help="an array's kind: real (default), positive, ..., labels:COUNT, bool or mask_rows (a boolean mask "
                       "with a True in every row; never differentiated)")
    layer.add_argument("--outputs", metavar="NAMES", help="names for the forward's first outputs (next_h,next_c), or the indices of the outputs the backward takes a gradient for (0); later outputs are extras it never sees")
    layer.add_argument("--loss", action="store_true", help="NAME returns loss, grads (no backward)")
    layer.add_argument("--torch", action="store_true", help="give the layer torch tensors, not NumPy arrays (a "
                       "layer written in torch, like llm.c's LayerNorm)")
    layer.add_argument("--forward", metavar="FUNC", help="the forward's name, if not NAME_forward (a function or "
                       "Class.method, e.g. LayerNorm.forward)")
    layer.add_argument("--backward", metavar="FUNC", help="the backward's name, if not NAME_backward (e.g. "
                       "LayerNorm.backward)")
    layer.add_argument("--wrt", metavar="NAMES", help="the arrays the gradients are for (default: every float array)")
    layer.add_argument("--examples", type=int, default=25, metavar="N", help="drawn examples (default 25)")
    layer.add_argument("--dtype", choices=["float64", "float32"], default="float64", help="the arrays' dtype")
    layer.add_argument("--subgradients", action="store_true",
                       help="at a kink or tie, accept any value between the one-sided derivatives")
    layer.add_argument("--seed", type=int, default=None, help="draw other examples than the default, fixed ones")
    layer.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _load_problem_set(path: str | None, forwards: bool = True) -> None:
    """Register an instructor's TOML problems (beside the built-in ones); a bad file is a usage error.
    ``forwards``: also the problems of the catalog entries written as forwards (verify/forwards/)."""
    if forwards:
        from verify.forwards import register_problems

        register_problems()
    if path is None or path == "lecture":
        return
    from pathlib import Path

    from verify.homework.problem_file import ProblemFileError, load_problems, unchecked

    try:
        loaded = load_problems(Path(path))
    except ProblemFileError as error:
        raise UsageError(str(error)) from None
    missing = unchecked(loaded)
    if missing:
        verb = "gives" if len(missing) == 1 else "give"
        print(f"gradproof: warning: {path}: {', '.join(missing)} {verb} no reference answer (answer = \"...\"), so a "
              "symbol mapping that swaps two quantities of the same shape cannot be caught when the file loads",
              file=sys.stderr)


def _cmd_problems(args: argparse.Namespace) -> int:
    from verify.homework.from_forward import public
    from verify.homework.problems import PROBLEMS

    _load_problem_set(args.set)

    docs = [public(p, reveal=args.reveal) for p in PROBLEMS.values()]
    if args.json:
        from .render import envelope

        _print_json(envelope("problems", problems=docs))
        return EXIT_OK
    rules = sorted({d["star_rule"] for d in docs if "star_rule" in d})
    for d in docs:
        _say(f"{d['id']:<28} {d['statement']}")
        _say(f"{'':<28} symbols: {', '.join(f'{k} ({v})' for k, v in d['symbols'].items())}")
        if d.get("context"):
            _say(f"{'':<28} also from its forward: {', '.join(f'{k} ({v})' for k, v in d['context'].items())}")
        if len(rules) > 1 and d.get("star_rule"):
            _say(f"{'':<28} {d['star_rule']}")
        if d.get("key"):
            _say(f"{'':<28} key: {d['key']}")
        if d.get("answer") and d.get("answer") != d.get("key"):
            _say(f"{'':<28} answer: {d['answer']}")
    if len(rules) == 1:
        _say(f"\nIn every problem, {rules[0]}.")
    return EXIT_OK


def time_limit(text: str) -> float:
    """``--time-limit``: finite positive seconds, at most ``MAX_SECONDS``.

    >>> time_limit("2.5")
    2.5
    >>> time_limit("nan")
    Traceback (most recent call last):
    ...
    gradproof.cli.UsageError: --time-limit wants seconds above 0 and at most 3600, like 10; got 'nan'
    """
    import math

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise UsageError(f"--time-limit wants seconds above 0 and at most {MAX_SECONDS:g}, like 10; got {text!r}")
    return seconds


def _check_argv(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``check PROBLEM ANSWER`` with an answer such as ``-p_i/q_i``, which argparse takes for an
    option: the check command's own options are picked out (before or after the answer, with their
    values), and everything else is put after ``--``, where argparse reads it as positional.

    >>> _check_argv(_parser(), ["check", "information:grad_q", "-p_i/q_i", "--json", "--time-limit", "5"])
    ['check', '--json', '--time-limit=5', '--', 'information:grad_q', '-p_i/q_i']
    """
    if not argv or argv[0] != "check":  # grade: a negative --time-limit is refused by time_limit, not argparse
        return [f"{token}={argv[n + 1]}" if token == "--time-limit" and n + 1 < len(argv) else token
                for n, token in enumerate(argv) if n == 0 or argv[n - 1] != "--time-limit"]
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    check = commands.choices["check"]
    options = {s: a for a in check._actions for s in a.option_strings}
    picked, positional = [], []
    tokens = iter(argv[1:])
    for token in tokens:
        if token == "--":
            positional += list(tokens)
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        matches = [s for s in options if s == name] or \
            ([s for s in options if s.startswith(name)] if name.startswith("--") and len(name) > 2 else [])
        if len(matches) != 1:
            positional.append(token)
            continue
        if options[matches[0]].nargs != 0 and "=" not in token:
            value = next(tokens, None)
            if value is not None:
                token = f"{matches[0]}={value}"  # joined: a value like -inf is not taken for an option
        picked.append(token)
    return ["check", *picked, "--", *positional]


def _cmd_check(args: argparse.Namespace) -> int:
    from verify.forwards import NAMES as FORWARD_NAMES
    from verify.homework.problems import canonical_id
    from verify.homework.worker import BoundedGrader

    seconds = time_limit(args.time_limit)
    # an entry written as a forward has its problems built on demand (its mistakes are generated: seconds)
    _load_problem_set(args.set, forwards=args.problem.replace(".", ":").split(":")[0] in FORWARD_NAMES)
    try:
        args.problem = canonical_id(args.problem)  # softmax_ce.grad_z is softmax_ce:grad_z
    except KeyError as error:
        raise UsageError(str(error.args[0])) from None
    with BoundedGrader(seconds) as grader:
        result = grader(args.problem, args.answer)
    if args.reveal:
        from verify.homework.problems import revealed

        result.feedback = revealed(args.problem, result.feedback)
    if args.json:
        from .render import envelope

        _print_json(envelope("check", **result.to_json()))
        return EXIT_OK
    _say(f"{result.verdict} ({result.score:g}): {result.feedback}")
    if result.counterexample:
        c = result.counterexample
        if "row" in c:  # a numeric exercise's table
            _say(f"  row {c['row']} ({c['label']}): expected {c['expected']}, yours {c['yours'] or 'nothing'}")
        else:
            from verify.homework.feedback import inputs_text

            inputs = inputs_text(c["inputs"])
            entry = f" (entry {c['entry']})" if c.get("entry") else ""
            _say(f"  counterexample: at {inputs}: expected {c['expected']:g}, yours {c['yours']:g}{entry}")
    return EXIT_OK


def _cmd_grade(args: argparse.Namespace) -> int:
    import sqlite3
    from pathlib import Path

    from verify.homework.batch import (
        Gradebook,
        SubmissionError,
        grade_single,
        read_submissions,
    )
    from verify.homework.exports import folder
    from verify.homework.store import BusyError, StoreError, damaged, not_a_store
    from verify.homework.worker import DEFAULT_WORKERS

    from .progress import Progress
    from .render import envelope

    seconds = time_limit(args.time_limit)
    _load_problem_set(args.problems)
    if bool(args.single) == bool(args.submissions):
        raise UsageError("give SUBMISSIONS (a class's CSV) or --single SUBMISSION, not both")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.single and args.drop_missing:
        raise UsageError("--drop-missing applies to a class's SUBMISSIONS, not to --single")
    out = Path(args.output)
    given = Path(args.single or args.submissions).resolve()
    # the exports replace what is there: the class's own file must not be among it (gradescope/ is rewritten
    # whole; --report DIR writes its .html pages)
    written = [out / "gradescope"] + ([Path(args.report)] if args.report and given.suffix.lower() == ".html" else [])
    for folder_written in written:
        if given.is_relative_to(folder_written.resolve()):
            raise UsageError(f"{args.single or args.submissions} is inside {folder_written}, which this run rewrites; "
                             "move the class's file out of it, or choose another -o or --report")
    warnings: list[str] = []
    try:
        if args.single:
            document = grade_single(Path(args.single), out, seconds, warnings, reveal=args.reveal)
            _warn(warnings)
            print(f"wrote {out / 'results.json'}: score {document['score']:g} of {len(document['tests'])}",
                  file=sys.stderr)
            if args.json:
                _print_json(envelope("grade", single=True, results=str(out / "results.json"),
                                     score=document["score"], tests=len(document["tests"]), warnings=warnings))
            return EXIT_OK
        rows = read_submissions(Path(args.submissions), warnings)
        with Gradebook(out) as book:
            plan = book.plan(rows, drop_missing=args.drop_missing)
            _warn(warnings + plan.warnings)
            _warn(plan.notes)
            try:
                graded = [g for _, g in book.grade(plan, Progress("grade"), seconds=seconds,
                                                   workers=args.workers or DEFAULT_WORKERS)]
            finally:  # also after Ctrl-C: the files show every answer committed so far
                exported = book.export(reveal=args.reveal)
                if args.report:
                    from .homework_report import write_pages

                    pages = write_pages(exported, Path(args.report), progress=Progress("report"))
                    if plan.dropped:  # pages of students with no answer left
                        left = {str(r["student"]) for r in exported}
                        for student in {student for student, _ in plan.missing} - left:
                            (Path(args.report) / f"{folder(student)}.html").unlink(missing_ok=True)
        if args.report:
            print(f"wrote {len(pages) - 1} student pages and {pages[-1]}", file=sys.stderr)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP (batch.Interrupted); the exports were rebuilt above
        import signal

        signum = getattr(stop, "signum", signal.SIGINT)
        return _fail(f"interrupted ({signal.Signals(signum).name}); every answer graded so far is kept in "
                     f"{out / 'grades.sqlite'} and the exports; run the same command again to resume",
                     args.json, "grade", status=128 + signum)
    except (SubmissionError, BusyError, StoreError) as error:
        raise UsageError(str(error)) from None
    except (OSError, sqlite3.Error) as error:  # a full disk, a file-size limit: the store keeps what was committed
        if damaged(error):  # the store itself is damaged: running again would fail the same way
            raise UsageError(str(not_a_store(out / "grades.sqlite", str(error)))) from None
        where = getattr(error, "filename", None) or out
        return _fail(f"cannot write {where}: {getattr(error, 'strerror', None) or error}; what was graded is kept, "
                     "run again to resume", args.json, "grade", status=EXIT_FAILED)
    counts = {v: sum(g.verdict == v for g in graded) for v in ("correct", "incorrect", "invalid")}
    whole = {v: sum(r["verdict"] == v for r in exported) for v in ("correct", "incorrect", "invalid")}
    now = f"; of those graded now: {', '.join(f'{n} {v}' for v, n in counts.items())}" if graded else ""
    print(f"{plan.summary()}{now}; the class now: {', '.join(f'{n} {v}' for v, n in whole.items())}, "
          f"{len(exported)} answers in {out / 'results.csv'}", file=sys.stderr)
    if args.json:
        _print_json(envelope("grade", single=False, results=str(out / "results.csv"), store=str(out / "grades.sqlite"),
                             summary=plan.summary(), graded_now=counts, whole_class=whole, answers=len(exported),
                             report=str(args.report) if args.report else None, warnings=warnings + plan.warnings))
    return EXIT_OK


def _warn(warnings: list[str], most: int = 20) -> None:
    """One line per warning, at most ``most`` of them and a count of the rest."""
    for line in warnings[:most]:
        print(f"gradproof: warning: {line}", file=sys.stderr)
    if len(warnings) > most:
        print(f"gradproof: warning: and {len(warnings) - most} more warnings like these", file=sys.stderr)


def _fail(message: str, as_json: bool = False, command: str | None = None, status: int = 2) -> int:
    """One line on stderr, or under ``--json`` a ``gradproof/error`` object on stdout; exit ``status``."""
    if as_json:
        from .render import error_json

        _print_json(error_json(" ".join(message.split()), status, command))
    else:
        print(f"gradproof: error: {message}", file=sys.stderr)
    return status


def _resolve(module: Any, dotted: str, error: type[Exception]) -> Any:
    """``name`` or ``Class.method`` in the layer file (``--forward LayerNorm.forward``)."""
    value = module
    for i, part in enumerate(dotted.split(".")):
        if not part.isidentifier():
            raise error(f"--forward/--backward want a name like affine_forward or LayerNorm.forward; got {dotted!r}")
        if not hasattr(value, part):
            where = ".".join(dotted.split(".")[:i]) or "the file"
            names = sorted(n for n, v in vars(value).items() if callable(v) and not n.startswith("_")) \
                if hasattr(value, "__dict__") else []
            raise error(f"{where} has no {part!r} (for {dotted}); it has {', '.join(names) or 'no functions'}")
        value = getattr(value, part)
    if not callable(value):
        raise error(f"{dotted} in the layer file is a {type(value).__name__}, not a function")
    return value


@contextlib.contextmanager
def _user_code(path: str, error: type[Exception]) -> Iterator[None]:
    """Run a user's layer file: its prints go to stderr (stdout carries our verdict, and --json's one
    document), it sees ``sys.argv`` as if it ran alone (an ``argparse`` at import reads no options of
    ours), and its ``sys.exit`` is an error rather than our exit status."""
    saved = sys.argv
    sys.argv = [path]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as stop:
        raise error(f"{path}: the layer file called sys.exit({stop.code!r}); a layer file to check must not exit") \
            from None
    finally:
        sys.argv = saved


def _load_layer_file(path: str, load_module: Any) -> Any:
    """Import the layer file: ``load_module`` imports a file with relative imports within its package
    (cs231n's ``from .layers import *``, ``from ..layers import *``); a package's file without them loads with
    the package's parent on sys.path as well (``from cs231n.layers import ...``)."""
    from pathlib import Path

    file = Path(path)
    text = file.read_text(errors="replace") if file.is_file() and file.suffix == ".py" else ""
    folder = file.resolve().parent
    if any(line.lstrip().startswith("from .") for line in text.splitlines()) or not (folder / "__init__.py").is_file():
        return load_module(path)
    sys.path.insert(0, str(folder.parent))
    try:
        return load_module(path)
    finally:
        if str(folder.parent) in sys.path:
            sys.path.remove(str(folder.parent))


def _cmd_check_layer(args: argparse.Namespace) -> int:
    """``gradproof check-layer``: one verdict per output; exit 1 when one failed, 2 on bad input."""
    from verify.layer_file import (
        LayerFileError,
        find_pair,
        load_module,
        parse_domains,
        parse_params,
        parse_shapes,
        parse_size_ranges,
    )

    try:
        shapes = parse_shapes(args.shape)
        sizes = parse_size_ranges(args.size)
        domains = parse_domains(args.domain)
        params = parse_params(args.param)
        if args.examples < 1:
            raise LayerFileError(f"--examples wants a positive number; got {args.examples}")
        with _user_code(args.file, LayerFileError):
            module = _load_layer_file(args.file, load_module)
        if args.forward or args.backward:
            forward = _resolve(module, args.forward or f"{args.name}_forward", LayerFileError)
            backward = None if args.loss else _resolve(module, args.backward or f"{args.name}_backward",
                                                       LayerFileError)
        else:
            target = getattr(module, args.name, None)
            if not args.loss and callable(getattr(target, "forward", None)) and callable(getattr(target, "backward", None)):
                forward, backward = target.forward, target.backward  # a class: llm.c's LayerNorm.forward/backward
            else:
                forward, backward = find_pair(module, args.name, args.loss)
    except LayerFileError as error:
        raise UsageError(str(error)) from None
    import warnings

    import numpy as np

    from verify.failure import GradientMismatch
    from verify.layers import InPlaceChange, LayerArgumentError, check_layer

    from .render import envelope

    def split(text: str | None) -> list[str] | None:
        return [t.strip() for t in text.split(",") if t.strip()] if text else None

    try:
        with _user_code(args.file, LayerFileError), warnings.catch_warnings():
            warnings.simplefilter("ignore", InPlaceChange)  # the report's note says it; no raw warning line too
            report = check_layer(forward, backward, shapes, params=params, sizes=sizes, domains=domains,
                                 examples=args.examples, wrt=split(args.wrt),
                                 outputs=[int(o) if o.lstrip('-').isdigit() else o for o in split(args.outputs) or []]
                                 or None, dtype=np.dtype(args.dtype), subgradients=args.subgradients, seed=args.seed,
                                 tensors=args.torch)
    except LayerFileError as error:
        raise UsageError(str(error)) from None
    except GradientMismatch as failure:
        verdicts = failure.verdicts or {failure.output_name or "out": f"FAILED ({failure.phase})"}
        if args.json:
            _print_json(envelope("check-layer", layer=args.name, file=args.file, passed=False, outputs=verdicts,
                                 phase=failure.phase, output=failure.output_name, input=failure.input,
                                 entry=list(failure.entry) if failure.entry is not None else None,
                                 yours=failure.yours, reference=failure.reference, allowed=failure.tolerance,
                                 sizes=failure.sizes, seed=failure.seed, saved=failure.saved, message=str(failure)))
        else:
            _say(f"{args.name} ({args.file}): FAILED")
            for name, verdict in verdicts.items():
                _say(f"  output {name}: {verdict}")
            print(str(failure))
        return EXIT_FAILED
    except LayerArgumentError as error:  # check_layer's own argument checks; a bug of ours is no 'bad input'
        raise UsageError(str(error)) from None
    if args.json:
        from dataclasses import asdict

        from verify.layers import TOLERANCES

        rule = TOLERANCES.get(np.dtype(args.dtype))
        tolerance = {**(asdict(rule) if rule is not None else {}), "text": report.tolerance}
        _print_json(envelope("check-layer", layer=args.name, file=args.file, passed=True, examples=report.examples,
                             outputs={n: "passed" for n in report.outputs}, inputs=report.inputs,
                             reference=report.reference, tolerance=tolerance, max_abs_error=report.max_abs_error,
                             max_rel_error=report.max_rel_error, sizes_seen=report.sizes_seen, notes=report.notes))
        return EXIT_OK
    _say(f"{args.name} ({args.file}): passed on {report.examples} examples at {len(report.sizes_seen)} shapes")
    for name in report.outputs:
        _say(f"  output {name}: passed (gradients of {', '.join(report.inputs)})")
    _say(f"  reference: {report.reference}")
    _say(f"  tolerance: {report.tolerance}; largest error {report.max_abs_error:.2g}")
    for note in report.notes:
        _say(f"  note: {note}")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    from derive.catalog import NAMES, topic

    from .expressions import entry_listing
    from .render import envelope, list_json

    topics = [topic(name) for name in NAMES]
    rows = list_json(topics) + entry_listing()
    if args.json:
        _print_json(envelope("list", entries=rows))
        return EXIT_OK
    for row in rows:
        _say(f"{row['name']:<22} {row['title']}")
        _say(f"{'':<22} section {row['section']}")
        _say(f"{'':<22} targets: {', '.join(row['targets']) or '(identities only)'}")
    return EXIT_OK


def _cmd_derive(args: argparse.Namespace) -> int:
    from derive.catalog import NAMES, topic
    from derive.parallel import default_jobs
    from verify.forwards import NAMES as FORWARD_NAMES

    from .derive_all import derive_entries, render_entry
    from .expressions import ExpressionDerivation, entry_json, entry_text, forward_from_args
    from .progress import Progress

    forward = forward_from_args(args)
    if forward is not None:
        if args.sizes or args.all:
            raise UsageError("--sizes and --all are for catalog entries, not --expr")
        from graphs.route import graph_results

        derivation = ExpressionDerivation(forward, graph_results(forward.name))
        if args.json:
            from .render import envelope

            _print_json(envelope("derive", ok=derivation.ok, entries=[{"name": args.expr_name, **derivation.to_json()}]))
        else:
            print(derivation.text())
        return EXIT_OK if derivation.ok else EXIT_FAILED
    sizes = parse_sizes(args.sizes)
    if args.all == bool(args.names):
        raise UsageError("name catalog entries (see 'gradproof list') or give --all, not both")
    forwards = list(FORWARD_NAMES) if args.all else [n for n in args.names if n in FORWARD_NAMES]
    if forwards and sizes:
        raise UsageError(f"--sizes is for entries derived by index calculus; {forwards[0]} is checked at its own sizes")
    # entry:claim (or entry.claim) names the entry that holds the claim; unknown names fail before any work starts
    names = list(NAMES) if args.all else list(dict.fromkeys(_entry_of(name, topic) for name in args.names
                                                             if name not in FORWARD_NAMES))
    if sizes and len(names) > 1:
        raise UsageError("--sizes applies to one entry at a time; name a single entry")
    jobs = args.jobs if args.jobs is not None else (default_jobs() if len(names) > 1 else 1)
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if jobs > 1 and not sizes:
        rendered = derive_entries(names, jobs, args.json, progress=Progress(f"deriving in {jobs} processes"))
    else:
        rendered = [render_entry(name, args.json, sizes, progress=Progress(name)) for name in names]
    for name in forwards:
        document, entry_failed = entry_json(name) if args.json else entry_text(name)
        rendered.append(([document], entry_failed))
    failed = any(entry_failed for _, entry_failed in rendered)
    if args.json:  # one entry or all of them: the same envelope, entries in the order named
        from .render import envelope

        _print_json(envelope("derive", ok=not failed, entries=[block for blocks, _ in rendered for block in blocks]))
    else:
        for blocks, _ in rendered:
            for block in blocks:
                print(block)
    return EXIT_FAILED if failed else EXIT_OK


def _entry_of(name: str, topic: Any) -> str:
    """The catalog entry ``name`` is, or holds: ``softmax_ce``, ``softmax_ce:grad_z`` and
    ``softmax_ce.grad_z`` (the id ``verify`` and ``problems`` use) are all ``softmax_ce``.

    >>> from derive.catalog import topic
    >>> _entry_of("softmax_ce.grad_z", topic), _entry_of("softmax_ce:grad_z", topic)
    ('softmax_ce', 'softmax_ce')
    >>> _entry_of("softmax_ce:grad_y", topic)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gradproof.cli.UsageError: softmax_ce has no claim 'grad_y'; its claims are softmax_ce:softmax_jacobian, \
softmax_ce:grad_z_general, softmax_ce:grad_z, ...
    """
    from derive.spec import fact_steps

    entry, colon, claim = name.strip().partition(":")
    if not colon and "." in entry:
        entry, _, claim = entry.partition(".")
    claims = [c.key for c in topic(entry).claims]  # an unknown entry: UnknownEntryError, naming close matches
    if claim and claim not in claims:  # a theorem's key (information:gibbs) names a fact of the entry
        claims += [s.key for s in fact_steps(topic(entry)) if s.key not in claims]
    if claim and claim not in claims:
        raise UsageError(f"{entry} has no claim {claim!r}; its claims are {', '.join(f'{entry}:{c}' for c in claims)}")
    return entry


def _cmd_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from graphs.draw import format_for_path, render
    from graphs.models import model, models_for_entry

    from .expressions import forward_from_args

    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json is --format json; it cannot go with --format {args.format}")
    try:  # the file's extension decides (a.pdf is a PDF), and an explicit --format must agree with it
        fmt = format_for_path(args.output or "-", "json" if args.json else args.format)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if fmt in ("png", "pdf") and (args.output == "-" or (args.output is None and args.json)):
        raise UsageError(f"a {fmt.upper()} cannot go to the terminal; give -o FILE")
    forward = forward_from_args(args)
    if forward is None and args.name is None:
        raise UsageError("name a model or a catalog entry (see 'gradproof list'), or give a forward with --expr")
    if forward is None and args.name not in models_for_entry(args.name):
        from verify.forwards import NAMES as FORWARD_NAMES
        from verify.forwards import entry, forward_of

        if args.name in FORWARD_NAMES:
            forward_of(entry(args.name))
    names = (forward.name,) if forward is not None else models_for_entry(args.name)
    default_name = args.expr_name if forward is not None else names[0] if names else ""
    if not names:
        from graphs.models import MODELS

        raise UsageError(f"no graph model for {args.name!r}; models: {', '.join(sorted(MODELS))}")
    if len(names) > 1:
        print(f"{args.name} has models {', '.join(names)}; drawing {names[0]} (name another to draw it)", file=sys.stderr)
    try:
        data = render(model(names[0]), fmt, adjoints=args.adjoints, engine=args.engine)
    except RuntimeError as error:  # dot asked for but missing, or dot failing
        raise UsageError(str(error)) from None
    if fmt == "json":  # the node-link graph inside the versioned envelope
        from .render import envelope

        data = (json.dumps(envelope("graph", **json.loads(data)), indent=2, ensure_ascii=False) + "\n").encode()
    target = args.output or ("-" if args.json else f"{default_name}.{fmt}")
    if target == "-":
        sys.stdout.write(data.decode())
    else:
        try:
            Path(target).write_bytes(data)
        except OSError as error:
            raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
        print(f"wrote {target} ({len(data)} bytes, {fmt})", file=sys.stderr)
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.examples < 1:
        raise UsageError("--examples must be at least 1")
    from verify.check import DTYPES

    from .expressions import check_named, forward_from_args
    from .progress import Progress
    from .render import fit_text, records_json, records_text

    forward = forward_from_args(args)
    device = _device(args.device)
    if forward is not None:
        from verify.expression_check import check_forward

        if args.route == "entrywise":
            raise UsageError("--route entrywise: a forward has no closed form of its own; its exact entrywise check "
                             "is in 'gradproof derive --expr'")
        try:
            records = check_forward(forward, examples=args.examples, device=device, dtype=DTYPES[args.dtype],
                                    seed=args.seed, size=args.size)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if args.json:
            _print_json(records_json(records))
        else:
            print(fit_text(records_text(records)))
        return EXIT_FAILED if any(r.passed is False for r in records) else EXIT_OK
    options = {"device": device, "dtype": DTYPES[args.dtype], "examples": args.examples, "size": args.size,
               "seed": args.seed}
    try:
        records = check_named(args.names, args.route, progress=Progress, **options)
    except KeyError as error:
        raise UsageError(str(error.args[0])) from None
    if args.json:
        _print_json(records_json(records))
    else:
        print(fit_text(records_text(records)))
    return EXIT_FAILED if any(r.passed is False for r in records) else EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive.catalog import NAMES, topic

    formats = list(dict.fromkeys(args.format or ["md", "html"]))
    if "pdf" in formats or "tex" in formats:  # milliseconds now, rather than a LaTeX error after the numeric checks
        from .report_tex import tex_problems

        pdf = "pdf" in formats
        problems = tex_problems(args.lang, pdf=pdf)
        if problems:
            hint = " (or use --format tex)" if pdf and not tex_problems(args.lang, pdf=False) else ""
            raise UsageError(f"--format {'pdf' if pdf else 'tex'} cannot be made here: {'; '.join(problems)}{hint}")
    if args.examples < 1:
        raise UsageError("--examples must be at least 1")
    from verify.forwards import NAMES as FORWARD_NAMES

    from .expressions import forward_from_args

    forward = forward_from_args(args)
    if forward is None and args.all == bool(args.names):
        raise UsageError("name catalog entries (see 'gradproof list') or give --all, not both")
    names = [] if forward is not None else list(NAMES) + list(FORWARD_NAMES) if args.all else \
        list(dict.fromkeys(n if n in FORWARD_NAMES else _entry_of(n, topic) for n in args.names))
    out = Path(args.output)
    _check_output_dir(out, [args.expr_name] if forward is not None else names, formats)
    from .expression_report import build_expression_report
    from .gallery import build_entry_report
    from .progress import Progress
    from .report import index_html, index_markdown, report_files

    docs: list[dict] = []
    files: list[dict[str, Any]] = []
    pages: dict[str, dict[str, str | bytes]] = {}  # --all: the gallery, written at the end
    for name in names or [forward.name]:
        progress = Progress(f"report {name}")
        if forward is not None:
            doc = {**build_expression_report(forward, examples=args.examples, lang=args.lang, progress=progress),
                   "name": args.expr_name}  # the files' name; the model keeps its own
        else:
            doc = build_entry_report(name, examples=args.examples, lang=args.lang, progress=progress)
        docs.append(doc)
        if args.all:
            pages[doc["name"]] = report_files(doc, formats)
            written = list(pages[doc["name"]])
        else:
            written = _write_report(out, doc, formats)
        files.append({"name": doc["name"], "ok": bool(doc["summary"]["ok"]), "files": written})
        print(f"{name}: {', '.join(written)}  [{'ok' if doc['summary']['ok'] else 'FAILED'}]", file=sys.stderr)
    index: dict[str, str | bytes] = {}
    if len(docs) > 1:
        if "md" in formats:
            index["index.md"] = index_markdown(docs)
        if "html" in formats:
            index["index.html"] = index_html(docs)
    if args.all:  # every page built first, then all written: a failure midway leaves the old gallery whole
        from .gallery import write_gallery

        changed = _guarded(lambda: write_gallery(out, {**pages, "index": index}, {d["name"]: d for d in docs}))
        for entry in files if "pdf" in formats else []:
            entry["files"].append(_compile_pdf(out, entry["name"]))
        print(f"wrote {len(changed)} files into {out}; the others were unchanged", file=sys.stderr)
    else:
        _guarded(lambda: [(out / file_name).write_text(text, encoding="utf-8") for file_name, text in index.items()])
    ok = all(d["summary"]["ok"] for d in docs)
    if args.json:
        from .render import envelope

        _print_json(envelope("report", ok=ok, directory=str(out), formats=formats, entries=files))
    return EXIT_OK if ok else EXIT_FAILED


_EXTENSIONS = {"md": ".md", "html": ".html", "json": ".json", "tex": ".tex", "pdf": ".pdf"}


def _check_output_dir(out: Any, names: Sequence[str], formats: Sequence[str]) -> None:
    """Refuse, before any slow work, an output directory that is a file or cannot be written, and
    report files whose names an existing directory takes: one line, exit 2, instead of an OSError
    after minutes of checks."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out} is a file; -o names the directory the reports go into")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # the real test: permissions, read-only mounts, ACLs
            pass
    except OSError as error:
        raise UsageError(f"cannot write to {out}: {error.strerror or error}") from None
    for name in names:
        for fmt in formats:
            path = out / f"{name}{_EXTENSIONS[fmt]}"
            if path.is_dir():
                raise UsageError(f"cannot write {path}: a directory of that name is in the way")


def _write_report(out: Any, doc: dict, formats: list[str]) -> list[str]:
    from .report import write_report

    try:
        return _guarded(lambda: write_report(out, doc, formats))
    except RuntimeError as error:  # TeX failed: its first error, one line
        raise UsageError(str(error)) from None


def _guarded(write: Any) -> Any:
    """Run ``write``; an OSError (a full disk, a file that became a directory) is one line, exit 2.
    The output directory was checked writable before any slow work; this is what remains."""
    try:
        return write()
    except OSError as error:
        raise UsageError(f"cannot write {error.filename or 'the report'}: {error.strerror or error}") from None


def _compile_pdf(out: Any, name: str) -> str:
    from .report_tex import compile_pdf

    try:
        return str(compile_pdf(out / f"{name}.tex").name)
    except RuntimeError as error:
        raise UsageError(str(error)) from None


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine (try --device auto)")
    return choice


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status. With ``--json`` on the command line, an
    error is a ``gradproof/error`` object on stdout (same exit status).

    >>> main(["derive", "softmax"])
    2
    """
    parser = _parser()
    tokens = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(tokens)
    try:
        args = parser.parse_args(_check_argv(parser, tokens))
    except _ArgumentError as error:
        if not as_json:
            argparse.ArgumentParser.error(error.parser, str(error))  # usage and exit 2, as argparse does
        return _fail(str(error), as_json=True, command=tokens[0] if tokens else None)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if argv is None:  # the real command line (tests calling main() keep their own Hypothesis setup)
        _hypothesis_storage_outside_cwd()
    as_json = bool(getattr(args, "json", False))
    try:
        if args.command == "list":
            return _cmd_list(args)
        if args.command == "graph":
            return _cmd_graph(args)
        if args.command == "verify":
            return _cmd_verify(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "problems":
            return _cmd_problems(args)
        if args.command == "rules":
            return _cmd_rules(args)
        if args.command == "check":
            return _cmd_check(args)
        if args.command == "grade":
            return _cmd_grade(args)
        if args.command == "check-layer":
            return _cmd_check_layer(args)
        return _cmd_derive(args)
    except UsageError as error:
        return _fail(str(error), as_json, args.command)
    except BrokenPipeError:  # `gradproof problems | head`: the reader left; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # our own errors are one line; anything else is a bug
        from derive.errors import GradproofError

        if isinstance(error, GradproofError):
            return _fail(str(error), as_json, args.command)
        raise
    except KeyboardInterrupt:  # Ctrl-C: a script reading --json still gets one object saying so
        return _fail("interrupted", as_json, args.command, status=130) if as_json else 130


def _wants_json(tokens: list[str]) -> bool:
    """Whether ``--json`` is among the options (before a ``--``, after which all is positional).

    >>> _wants_json(["derive", "x", "--json"]), _wants_json(["check", "p", "--", "--json"])
    (True, False)
    """
    options = tokens[:tokens.index("--")] if "--" in tokens else tokens
    return "--json" in options


def _hypothesis_storage_outside_cwd() -> None:
    """Hypothesis caches what it learns of local source files (``constants``) under ``./.hypothesis``
    unless ``HYPOTHESIS_STORAGE_DIRECTORY`` says where: point it at the user's cache folder, so that
    ``verify`` or ``report`` run in a lecture folder leaves nothing there. A value set by the user wins."""
    import os
    from pathlib import Path

    if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(cache / "gradproof" / "hypothesis")


def _cmd_rules(args: argparse.Namespace) -> int:
    from graphs.prove_index import rule_proof_table

    from .render import envelope

    rows = rule_proof_table()
    ok = all(row["status"] != "failed" for row in rows)
    if args.json:
        _print_json(envelope("rules", ok=ok, rules=rows))
    else:
        width = max(len(row["rule"]) for row in rows)
        for row in rows:
            sizes = "every size" if row["sizes"] == "every" else "at shapes " + ", ".join(row["sizes"])
            print(f"{row['rule']:<{width}}  {row['status']:<8} {sizes} ({row['method']})")
        every = sum(row["sizes"] == "every" for row in rows)
        print(f"{every} of {len(rows)} rules proved at every size")
    return EXIT_OK if ok else EXIT_FAILED


def _say(line: str) -> None:
    """A line of text output, folded to the terminal's width (COLUMNS, else the terminal, else 100)."""
    from .render import fit_text

    print(fit_text(line))


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))
