"""Errors a script can read: with ``--json`` every refusal is one ``gradproof/error`` object on stdout
with the exit status a terminal gets; ``report -o`` and ``graph -o`` refuse bad destinations before
any slow work; ``report`` and ``verify`` leave no ``.hypothesis`` folder where they run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gradproof.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == {"schema", "version", "error", "exit_status", "command"}
    assert (document["schema"], document["version"], document["exit_status"]) == ("gradproof/error", 1, 2)
    assert "\n" not in document["error"] and document["error"]
    assert captured.err == ""  # the JSON is the whole answer
    return document


@pytest.mark.parametrize(("argv", "command", "words"), [
    (["derive", "softmx", "--json"], "derive", "softmax_ce"),  # unknown entry, with the close match
    (["derive", "softmax_ce:grad_y", "--json"], "derive", "has no claim 'grad_y'"),
    (["derive", "--expr", "L = sum(", "--shape", "X=n,d", "--json"], "derive", "cannot read the forward"),
    (["derive", "--expr", "L = sum(foo(X))", "--shape", "X=n,d", "--json"], "derive", "unknown function 'foo'"),
    (["derive", "softmax_ce", "--sizes", "n=three", "--json"], "derive", "--sizes wants NAME=INTEGER"),
    (["verify", "information", "--examples", "0", "--json"], "verify", "--examples must be at least 1"),
    (["problems", "--set", "/nonexistent/hw.toml", "--json"], "problems", "/nonexistent/hw.toml"),
    (["check-layer", "/nonexistent/layers.py", "affine", "--shape", "x=N,D", "--json"], "check-layer",
     "/nonexistent/layers.py"),
    (["check", "softmax_ce:nope", "p_i", "--json"], "check", "softmax_ce"),
    (["graph", "transformer", "--json"], "graph", "transformer"),
    (["graph", "attention", "-o", "a.xyz", "--json"], "graph", ".xyz"),
    (["derive", "information", "--bogus", "--json"], "derive", "unrecognized arguments: --bogus"),  # argparse's
    (["verify", "--dtype", "float8", "--json"], "verify", "invalid choice: 'float8'"),
])
def test_errors_under_json_are_json(argv: list[str], command: str, words: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    document = _error(capsys, argv)
    assert document["command"] == command and words in document["error"]


def test_without_json_errors_stay_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "softmx"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("gradproof: error: ") and captured.err.count("\n") == 1
    with pytest.raises(SystemExit) as exited:  # argparse's own usage message and exit, as before
        main(["derive", "information", "--bogus"])
    assert exited.value.code == 2 and "usage: gradproof" in capsys.readouterr().err


def test_an_answer_that_is_json_is_not_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    """After ``--`` everything is positional: an answer reading '--json' is graded, not an option."""
    assert main(["check", "softmax_ce:grad_z", "--", "--json"]) == 0
    assert capsys.readouterr().out.startswith("invalid")


def _read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write into: a chmod 555 one, or (root ignores modes) /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        with tempfile.TemporaryFile(dir="/sys"):
            pass
    except OSError:
        return Path("/sys")
    pytest.skip("no directory here that root cannot write into")


@pytest.mark.parametrize("as_json", [False, True])
def test_report_refuses_a_read_only_directory_before_any_work(as_json: bool, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    argv = ["report", "attention", "-o", str(_read_only_dir(tmp_path))] + (["--json"] if as_json else [])
    if as_json:
        assert "cannot write to" in _error(capsys, argv)["error"]
    else:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("gradproof: error: cannot write to") and err.count("\n") == 1
    assert time.monotonic() - started < 5  # attention's numeric checks take 20 s: none of them ran


@pytest.mark.parametrize("as_json", [False, True])
def test_report_refuses_an_output_that_is_a_file(as_json: bool, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    argv = ["report", "attention", "-o", str(existing)] + (["--json"] if as_json else [])
    if as_json:
        assert "is a file" in _error(capsys, argv)["error"]
    else:
        assert main(argv) == 2
        assert "is a file" in capsys.readouterr().err
    assert existing.read_text() == "mine"


def test_report_refuses_a_directory_in_place_of_a_report_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "attention.html").mkdir()
    assert main(["report", "attention", "--format", "html", "-o", str(tmp_path)]) == 2
    assert "attention.html: a directory of that name is in the way" in capsys.readouterr().err


def test_report_pdf_names_what_tex_lacks_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from gradproof import report_tex

    monkeypatch.setattr(report_tex, "tex_problems",
                        lambda lang="en", pdf=True: ["booktabs.sty is missing (Debian: texlive)"] if pdf else [])
    started = time.monotonic()
    assert main(["report", "attention", "--format", "pdf", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "booktabs.sty is missing" in err and err.count("\n") == 1
    assert time.monotonic() - started < 5 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "magic"), [("a.pdf", b"%PDF"), ("a.svg", b"<"), ("a.png", b"\x89PNG"),
                                             ("a.dot", b"digraph"), ("a.json", b"{")])
def test_graph_writes_the_format_its_extension_names(name: str, magic: bytes, tmp_path: Path) -> None:
    target = tmp_path / name
    assert main(["graph", "information", "-o", str(target), "--engine", "matplotlib"]) == 0
    assert target.read_bytes().lstrip().startswith(magic)


@pytest.mark.parametrize("argv", [["-o", "a.txt"], ["-o", "a.pdf", "--format", "svg"], ["--format", "pdf", "-o", "-"]])
def test_graph_refuses_an_extension_it_cannot_honour(argv: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "information", *argv]) == 2
    assert capsys.readouterr().err.startswith("gradproof: error: ")  # refused before anything is drawn
    assert list(tmp_path.iterdir()) == []


def test_report_and_verify_leave_no_hypothesis_folder_in_the_working_directory(tmp_path: Path) -> None:
    """Hypothesis caches constants of local source files in ./.hypothesis unless told where; the
    command line points it at the user's cache folder instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPOTHESIS")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(ROOT)
    work = tmp_path / "lecture"
    work.mkdir()
    for argv in (["verify", "information", "--examples", "30"],
                 ["report", "information", "--examples", "30", "--format", "json", "-o", "out"]):
        done = subprocess.run([sys.executable, "-m", "gradproof", *argv], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in work.iterdir()) == ["out"]
    assert (tmp_path / "cache" / "gradproof" / "hypothesis").is_dir()  # where its cache went instead


def test_report_all_writes_the_gallery_at_the_end_and_rewrites_nothing_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--all builds every page, then writes them with the manifest (gradproof/gallery.py); run again
    with nothing changed, it writes nothing (numeric digits that churn do not count)."""
    import derive.catalog
    import verify.forwards

    monkeypatch.setattr(derive.catalog, "NAMES", ("perceptron", "information"))
    monkeypatch.setattr(verify.forwards, "NAMES", ())
    argv = ["report", "--all", "--examples", "2", "-o", str(tmp_path)]
    assert main(argv) == 0
    assert "wrote 11 files" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "gallery.json").read_text())
    assert sorted(manifest) == ["information", "perceptron"]
    assert {"index.md", "index.html", "information.html", "perceptron.md"} <= {p.name for p in tmp_path.iterdir()}
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(argv) == 0
    assert "wrote 0 files" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("fmt", ["tex", "pdf"])
def test_report_tex_in_a_language_tex_cannot_set_is_refused_before_any_work(fmt: str, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert main(["report", "attention", "--format", fmt, "--lang", "zh", "-o", str(tmp_path), "--json"]) == 2
    assert "English only" in json.loads(capsys.readouterr().out)["error"]
    assert time.monotonic() - started < 5 and list(tmp_path.iterdir()) == []


def test_ctrl_c_under_json_is_an_error_object_with_status_130(monkeypatch, capsys) -> None:
    import gradproof.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_list", interrupted)
    assert main(["list", "--json"]) == 130
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "gradproof/error" and document["exit_status"] == 130
    assert document["error"] == "interrupted" and document["command"] == "list"
    assert main(["list"]) == 130 and capsys.readouterr().out == ""
