"""The click CLI: batch exit codes, FILE:LINE failures, JUnit XML, options, fast --help."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from dmamon.cli import main


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_run_exits_0_when_everything_holds(tmp_path: Path) -> None:
    f = write(tmp_path, "ok.dmamon", "expect print 1+1 == 2\ninfo status\n")
    res = CliRunner().invoke(main, ["run", f])
    assert res.exit_code == 0, res.output
    assert "VM status: running" in res.output


def test_run_exits_1_and_names_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.dmamon", "print 1\nexpect print 1 == 2\nprint 3\n")
    res = CliRunner().invoke(main, ["run", f])
    assert res.exit_code == 1
    assert f"{f}:2: expect: 'print 1' gave 0x1 (1), expected == 2" in res.output
    assert "0x3" not in res.output  # stops at the first failure


def test_keep_going_reports_every_failure(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.dmamon", "bogus1\nprint 3\nbogus2\n")
    res = CliRunner().invoke(main, ["run", "--keep-going", f])
    assert res.exit_code == 1
    assert f"{f}:1:" in res.output and f"{f}:3:" in res.output and "0x3" in res.output


def test_missing_script_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["run", str(tmp_path / "nope.dmamon")])
    assert res.exit_code == 2


def test_bad_device_spec_is_a_usage_error(tmp_path: Path) -> None:
    f = write(tmp_path, "ok.dmamon", "info status\n")
    res = CliRunner().invoke(main, ["run", "-device", "edu,nosuch=1", f])
    assert res.exit_code == 2
    assert "Property 'edu.nosuch' not found" in res.output


def test_junit_has_a_case_per_script_and_per_assertion(tmp_path: Path) -> None:
    f = write(tmp_path, "lab.dmamon", "expect print 1 == 1\nexpect print 1 == 2\n")
    xml = tmp_path / "out.xml"
    res = CliRunner().invoke(main, ["run", "--keep-going", "--junit", str(xml), f])
    assert res.exit_code == 1
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "3" and suite.get("failures") == "2"


def test_machine_header_of_a_script_builds_its_machine(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "two.dmamon",
        "# machine: -nodefaults -device edu,id=a -device edu,id=b\ninfo devices\n",
    )
    res = CliRunner().invoke(main, ["run", f])
    assert res.exit_code == 0, res.output
    assert "a: edu 00:01.0" in res.output and "b: edu 00:02.0" in res.output


def test_memory_option_sizes_ram(tmp_path: Path) -> None:
    f = write(tmp_path, "m.dmamon", "expect xp /1xw 0x3ffffffc == 0\n")
    res = CliRunner().invoke(main, ["run", "-m", "1G", f])
    assert res.exit_code == 0, res.output


def test_help_and_version_do_not_import_cmd2() -> None:
    code = (
        "import sys\nfrom dmamon.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'cmd2' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_shell_reads_commands_from_a_pipe() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dmamon"],
        input="info status\nquit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert out.stdout.strip() == "VM status: running"
    assert "Traceback" not in out.stderr


def test_end_of_a_pipe_without_quit_leaves_the_shell() -> None:
    # issue 9: cmd2 called do_quit("") at EOF and the shell looped on AttributeError forever
    for stdin in ("info status\n", ""):
        out = subprocess.run(
            [sys.executable, "-m", "dmamon"],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert out.returncode == 0
        assert out.stdout.strip() == ("VM status: running" if stdin else "")
        assert out.stderr == ""


def test_end_of_devnull_leaves_the_shell_quickly() -> None:
    import time

    start = time.monotonic()  # wall clock only to bound the test, never compared as output
    with open("/dev/null") as devnull:
        out = subprocess.run(
            [sys.executable, "-m", "dmamon"], stdin=devnull, capture_output=True, timeout=20
        )
    assert out.returncode == 0 and out.stderr == b""
    assert time.monotonic() - start < 10


ROOT = Path(__file__).resolve().parents[2]


def _crashing_script(tmp_path: Path, expect_it: bool) -> str:
    lab = (ROOT / "dmamon/scripts/labs/reentrancy-edu.dmamon").read_text().splitlines()[:59]
    lines = [ln for ln in lab if not ln.startswith("expect")]
    if expect_it:
        lines.append("expect info status == crashed")
    return write(tmp_path, "crash.dmamon", "\n".join(lines) + "\n")


def test_an_unexpected_crash_fails_the_file(tmp_path: Path) -> None:
    # issue 9: dmamon run exited 0 after the machine crashed with no assertion expecting it
    junit = tmp_path / "r.xml"
    result = CliRunner().invoke(
        main, ["run", "--junit", str(junit), _crashing_script(tmp_path, False)]
    )
    assert result.exit_code == 1
    assert "crash.dmamon:55: machine crashed and no assertion expects it: stack overflow" in (
        result.output
    )
    assert "machine crashed" in junit.read_text()


def test_an_expected_crash_passes(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", _crashing_script(tmp_path, True)])
    assert result.exit_code == 0, result.output


def test_run_prints_a_summary_and_junit_has_totals(tmp_path: Path) -> None:
    a = write(tmp_path, "a.dmamon", "expect print 1 == 1\nexpect print 2 == 2\n")
    b = write(tmp_path, "b.dmamon", "expect print 1 == 1\n")
    junit = tmp_path / "r.xml"
    result = CliRunner().invoke(main, ["run", "--junit", str(junit), a, b])
    assert result.exit_code == 0
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("2 files, 3 assertions, 0 failed, ") and last.endswith(" s")
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "5" and root.get("failures") == "0" and root.get("errors") == "0"
    for suite in root:
        assert {"time", "errors", "skipped", "tests", "failures"} <= set(suite.attrib)


def test_qemu_options_are_not_misread_by_click(tmp_path: Path) -> None:
    # issue 9: "-display none" was "-d isplay" + "No such command 'none'"
    script = write(tmp_path, "a.dmamon", "expect info status == running\n")
    for extra in (
        ["-display", "none"],
        ["-nographic"],
        ["-monitor", "stdio"],
        ["-serial", "none"],
        ["-accel", "qtest"],
        ["-machine", "q35,accel=qtest"],
    ):
        result = CliRunner().invoke(main, [*extra, "run", script])
        assert result.exit_code == 0, (extra, result.output)


def test_an_unmodelled_qemu_option_is_refused_by_its_name(tmp_path: Path) -> None:
    script = write(tmp_path, "a.dmamon", "info status\n")
    result = CliRunner().invoke(main, ["-smp", "2", "run", script])
    assert result.exit_code == 2
    assert "-smp: a QEMU option dmamon does not model" in result.output


def test_bad_machine_header_names_file_and_line(tmp_path: Path) -> None:
    script = write(tmp_path, "a.dmamon", "# lab\n# machine: -frobnicate\ninfo status\n")
    result = CliRunner().invoke(main, ["run", script])
    assert result.exit_code == 2
    assert f"{script}:2: # machine:" in result.output


def test_machine_header_without_its_space_is_warned_about(tmp_path: Path) -> None:
    script = write(tmp_path, "a.dmamon", "#machine: -nodefaults\ninfo status\n")
    result = CliRunner().invoke(main, ["run", script])
    assert f"{script}:1: warning: not a machine header" in result.output


def test_command_line_devices_do_not_move_a_labs_devices(tmp_path: Path) -> None:
    # decision: an error, not a merge; the lab's assertions name its slots and ids
    script = write(tmp_path, "a.dmamon", "# machine: -nodefaults -device edu,id=a\n")
    result = CliRunner().invoke(main, ["run", "-device", "edu,id=b", script])
    assert result.exit_code == 2
    assert f"{script}:1: the script's '# machine:' line sets its devices" in result.output


def test_ctrl_c_ends_qmp_and_qtest_without_aborted(tmp_path: Path) -> None:
    import signal
    import time

    for args in (["qtest"], ["qmp", "--socket", str(tmp_path / "q.sock")]):
        p = subprocess.Popen(
            [sys.executable, "-m", "dmamon", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)  # let it start serving (bounded by the timeout below)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=20)
        assert "Aborted!" not in err and "Traceback" not in err, err


def test_source_runs_the_shipped_tour_from_anywhere_and_echoes(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dmamon"],
        input="source tour\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0
    assert out.stdout.startswith("(dmamon) info pci\n")
    assert "tour.dmamon" not in out.stderr


def test_source_echo_shows_each_command(tmp_path: Path) -> None:
    script = write(tmp_path, "a.dmamon", "print 1\n")
    out = subprocess.run(
        [sys.executable, "-m", "dmamon"],
        input=f"source --echo {script}\nsource {script}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout == "(dmamon) print 1\n0x1\n0x1\n"
