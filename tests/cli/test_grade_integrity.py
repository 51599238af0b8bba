"""gradproof grade survives kill -9, a file-size limit, a full disk and a second run at once.

Each test runs the real command (``python -m gradproof grade``) in a subprocess, interrupts it,
resumes it, and compares every exported file byte for byte with an uninterrupted run. The class is
mostly the numeric exercises (graded in well under a millisecond) with some formula answers, so
that 2,000 answers grade in a few seconds; its students include names chosen to collide.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verify.homework.exports import folder, read_results

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = {"information:grad_q": ("-p_i/q_i", "p_i/q_i"), "softmax_ce:grad_z": ("p_i - y_i", "y_i - p_i")}
EXERCISES = ("bp:step", "perceptron:table_and", "perceptron:table_lecture2d")
HOSTILE = ["=ann", "'=ann", "index", "Ann", "ann", folder("Ann"), "../x", "Ünïcødé 学生", "x" * 300, "@SUM(1)",
           "-1", "a,b", 'quo"te', "new\nline", "student-", "INDEX"]


def _class(path: Path, students: int, seed: int = 14, changed: int = 0) -> list[tuple[str, str, str]]:
    """``students`` students (the hostile names among them), each with the three exercises (random
    tables) and one formula answer, mostly right; ``changed`` students answer differently."""
    rng = random.Random(seed)
    names = HOSTILE + [f"s{n:04d}" for n in range(students - len(HOSTILE))]
    rows = []
    for number, name in enumerate(names):
        for problem in EXERCISES:
            rows.append((name, problem, "; ".join(" ".join(str(rng.randint(-3, 3)) for _ in range(3))
                                                  for _ in range(rng.randint(1, 3)))))
        problem = rng.choice(sorted(FORMULAS))
        right, wrong = FORMULAS[problem]
        rows.append((name, problem, wrong if rng.random() < 0.05 else right))
        if number < changed:
            rows[-2] = (name, rows[-2][1], "0 0 0")
    rows.append(("   ", "information:grad_q", "-p_i/q_i"))  # no name: warned about and skipped
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "problem", "answer"])
        writer.writerows(rows)
    return rows[:-1]


def _start(answers: Path, out: Path, *extra: str, limit: int | None = None) -> subprocess.Popen:
    def preexec() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.Popen([sys.executable, "-m", "gradproof", "grade", "lecture", str(answers), "-o", str(out),
                             "--workers", "2", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec)  # noqa: PLW1509 - setrlimit only, async-signal-safe


def _run(answers: Path, out: Path, *extra: str, limit: int | None = None) -> tuple[int, str]:
    process = _start(answers, out, *extra, limit=limit)
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def _exports(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders but the store and the lock, by path."""
    files = {}
    for top in folders:
        for path in sorted(top.rglob("*")):
            if path.is_file() and not path.name.startswith((".lock", "grades.sqlite")):
                files[f"{top.name}/{path.relative_to(top)}"] = path.read_bytes()
    return files


def _wait_for_lock(process: subprocess.Popen, out: Path) -> None:
    """Until ``process`` holds OUTDIR's lock (it writes its id there) or has finished."""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if (out / ".lock").read_text() == str(process.pid):
                return
        except OSError:
            pass
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """An uninterrupted run on a 2,000-answer class (with its feedback pages)."""
    root = tmp_path_factory.mktemp("reference")
    rows = _class(root / "class.csv", 500)
    code, err = _run(root / "class.csv", root / "out", "--report", str(root / "pages"))
    assert code == 0, err
    assert "row 2002: no student name; row skipped" in err and "graded 2000 new" in err
    return root / "class.csv", root, rows


def test_the_reference_run_keeps_every_name_apart(reference: tuple[Path, Path, list]) -> None:
    _, root, rows = reference
    back = read_results(root / "out" / "results.csv")
    assert [(r["student"], r["problem"], r["answer"]) for r in back] == rows  # round trip, in the file's order
    folders = [p.name for p in (root / "out" / "gradescope").iterdir() if p.is_dir()]
    assert len(folders) == len({s for s, _, _ in rows}) == len({f.casefold() for f in folders})
    pages = [p.name for p in (root / "pages").iterdir()]
    assert len(pages) == len(folders) + 1 and "index.html" in pages
    raw = (root / "out" / "results.csv").read_text(encoding="utf-8")
    assert "\n=" not in raw and ",=" not in raw and "\n@" not in raw and "\n-" not in raw  # no formula cell


def test_kill_9_at_random_points_then_resume_gives_the_same_files(reference: tuple[Path, Path, list],
                                                                  tmp_path: Path) -> None:
    answers, root, _ = reference
    out, pages = tmp_path / "out", tmp_path / "pages"
    rng = random.Random(14)
    killed_running = 0
    for _ in range(6):
        process = _start(answers, out, "--report", str(pages))
        _wait_for_lock(process, out)  # past start-up: the kill lands in grading or exporting
        time.sleep(rng.uniform(0.0, 1.2))
        workers = _children(process.pid)
        process.kill()
        process.communicate()
        killed_running += process.returncode == -9
        deadline = time.monotonic() + 10
        while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_gone(w) for w in workers), "a grading worker outlived its killed parent"
    assert killed_running >= 3
    code, err = _run(answers, out, "--report", str(pages))
    assert code == 0, err
    assert _exports(out, pages) == _exports(root / "out", root / "pages")


def test_a_second_run_on_the_same_outdir_is_refused(reference: tuple[Path, Path, list], tmp_path: Path) -> None:
    answers, root, _ = reference
    out = tmp_path / "out"
    first = _start(answers, out)
    _wait_for_lock(first, out)
    first.send_signal(signal.SIGSTOP)  # holds the lock, whatever this machine's speed
    try:
        code, err = _run(answers, out)
    finally:
        first.send_signal(signal.SIGCONT)
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "is being graded by another gradproof grade" in err and str(first.pid) in err
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert _exports(out) == _exports(root / "out")


def test_a_file_size_limit_stops_a_run_and_a_resume_completes(reference: tuple[Path, Path, list],
                                                              tmp_path: Path) -> None:
    answers, root, _ = reference
    out = tmp_path / "out"
    for limit in (48_000, 200_000):  # the store's log hits the limit (EFBIG) part way through
        code, err = _run(answers, out, limit=limit)
        assert code == 1 and len(err.strip().splitlines()) == 2, err  # the warning about row 2002, the error
        assert "cannot write" in err and "run again to resume" in err
    code, err = _run(answers, out)
    assert code == 0, err
    assert _exports(out) == _exports(root / "out")
    # changed answers are regraded and counted
    changed = tmp_path / "changed.csv"
    _class(changed, 500, changed=3)
    shutil.copytree(out, tmp_path / "again")
    code, err = _run(changed, tmp_path / "again")
    assert code == 0 and "graded 0 new, 3 regraded (answer changed), 0 regraded (problem changed), 1997 kept" in err, err
    graded = {(r["student"], r["problem"]): r["answer"] for r in read_results(tmp_path / "again" / "results.csv")}
    assert graded[("=ann", "perceptron:table_lecture2d")] == "0 0 0"
    # the store takes the 3 answers, results.csv is past the limit: the old one stays whole
    before = (out / "results.csv").read_bytes()
    code, err = _run(changed, out, limit=100_000)
    assert code == 1 and "cannot write" in err, err
    assert (out / "results.csv").read_bytes() == before and not list(out.rglob(".*.tmp"))
    code, err = _run(changed, out)
    assert code == 0 and "2000 kept" in err, err
    assert _exports(out) == {k.replace("again/", "out/", 1): v for k, v in _exports(tmp_path / "again").items()}


def test_a_full_disk_stops_a_run_and_a_resume_completes(reference: tuple[Path, Path, list], tmp_path: Path) -> None:
    answers, root, _ = reference
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        code, err = _run(answers, disk / "out")
        assert code == 1 and "cannot write" in err and "No space left" in err, err
        assert subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=False).returncode == 0
        code, err = _run(answers, disk / "out")
        assert code == 0, err
        assert _exports(disk / "out") == _exports(root / "out")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
