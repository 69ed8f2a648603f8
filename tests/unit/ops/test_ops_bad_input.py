"""Every `omo-ops` command fed bad input: a message in plain words naming what is wrong,
exit 2, never a traceback, and nothing sent or written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.ops.cli import main
from edge.ops.signing_key import write_new_key
from edge.sim.broker import free_port

ROOT = Path(__file__).resolve().parents[3]

KEY = ["--signing-key", "{key}", "--kid", "k1"]
AT = ["--broker", "mqtt://127.0.0.1:{closed}"]
PUBLISH = ["content", "publish", "{folder}", "--store", "s1", *KEY, *AT]
SIGN = ["content", "sign", "{folder}", "--store", "s1", *KEY, "--version", "3", "--out", "{tmp}/m"]
CMD = ["cmd", "--store", "s1", "--device", "d1", *AT]

CASES = [
    # keygen
    (["keygen", "--kid", "k1", "--out", "{key}"], "exists; keep that key, or give --force"),
    (["keygen", "--kid", "two words", "--out", "{tmp}/new"], "--kid 'two words'"),
    (["keygen", "--kid", "k1", "--out", "{tmp}/no/such/dir/key"], "no such folder"),
    # content check, preview
    (["content", "check", "{tmp}/nowhere"], "no such folder"),
    (["content", "check", "{tmp}"], "no playlist.json"),
    (["content", "preview", "{folder}", "--out", "{tmp}/p", "--size", "10"], "argument --size"),
    (["content", "preview", "{folder}", "--out", "{tmp}/p", "--size", "0x0"], "argument --size"),
    (["content", "preview", "{folder}", "--out", "{tmp}/p", "--rotation", "45"], "--rotation"),
    (["content", "preview", "{bad}", "--out", "{tmp}/p"], "problems a screen would refuse"),
    (["content", "preview", "{folder}", "--out", "{key}"], "not a folder"),
    # content sign, publish: keys, durations, folders, brokers
    ([*SIGN[:-4], "--version", "0", "--out", "{tmp}/m"], "argument --version"),
    ([*SIGN, "--expires-in", "3x"], "argument --expires-in"),
    ([*SIGN, "--expires-in", "0d"], "argument --expires-in"),
    ([*SIGN[:2], "{bad}", *SIGN[3:]], "problems a screen would refuse"),
    (["content", "sign", "{folder}", "--store", "s/1"], "argument --store"),
    ([*PUBLISH[:5], "--signing-key", "{folder}/playlist.json", "--kid", "k1", *AT],
     "not a signing key file"),
    ([*PUBLISH[:5], "--signing-key", "{tmp}/missing.key", "--kid", "k1", *AT], "cannot read"),
    ([*PUBLISH[:5], "--signing-key", "{key}", "--kid", "k2", *AT], "is the key for kid 'k1'"),
    (PUBLISH, "unreachable: Connection refused"),
    ([*PUBLISH, "--withhold", "other.png"], "--withhold 'other.png': no slide names"),
    ([*PUBLISH[:-2], "--broker", "http://127.0.0.1"], "give mqtt://HOST:PORT"),
    ([*PUBLISH[:-2], "--broker", "mqtts://127.0.0.1"], "needs --tls-ca"),
    ([*PUBLISH, "--tls-ca", "{tmp}/ca.pem"], "is plain MQTT: use mqtts://"),
    ([*PUBLISH[:-2], "--broker", "mqtts://h", "--tls-ca", "{tmp}/nope"], "--tls-ca"),
    ([*PUBLISH[:-2], "--broker", "mqtts://h", "--tls-ca", "{key}"], "not a PEM CA certificate"),
    ([*PUBLISH, "--tls-cert", "{key}"], "--tls-cert and --tls-key together"),
    ([*PUBLISH, "--timeout", "0"], "argument --timeout"),
    # content serve, verify
    (["content", "serve", "--store", "s1", *AT, "{tmp}/nowhere"], "no such folder"),
    (["content", "serve", "--store", "s1", *AT, "{folder}"], "unreachable"),
    (["content", "verify", "{tmp}/none.json", "--public-key", "k1={pub}", "--store", "s1"],
     "cannot read"),
    (["content", "verify", "{folder}/playlist.json", "--public-key", "k1", "--store", "s1"],
     "give KID=BASE64"),
    (["content", "verify", "{folder}/playlist.json", "--public-key", "k1=AAAA", "--store", "s1"],
     "give KID=BASE64"),
    # cmd
    ([*CMD, "screenshot", "--out", "{tmp}/no/such/shot.png"], "no folder"),
    ([*CMD, "screenshot", "--out", "{tmp}/shot.png"], "unreachable"),
    ([*CMD, "purge-visitor", ""], "purge_visitor: Expected `str` of length >= 1"),
    ([*CMD, "set-log-level", "loud"], "argument level: invalid choice"),
    (["cmd", "--store", "s1", *AT, "reload"], "--device"),
    # fleet status
    (["fleet", "status", *AT], "unreachable"),
    (["fleet", "status", "--broker", "mqtt://no-such-host.invalid"], "no such host"),
    (["fleet", "status", "--broker", "mqtt://127.0.0.1:99999"], "not a number 1-65535"),
    (["fleet", "status", "--store", "#", *AT], "argument --store"),
    # ca, config push: files that are not there (or are in the way)
    (["ca", "init", "--out", "{key}", "--broker-host", "h"], "content.key: file exists"),
    (["ca", "rotate", "--ca", "{tmp}/noca", "--root-key", "{tmp}/root.key"],
     "root.key: no such file or directory"),
    (["ca", "sign-csr", "--ca", "{tmp}/noca", "--csr", "{tmp}/d1.csr", "--device", "d1",
      "--inventory", "{tmp}/inventory", "--out", "{tmp}/d1.crt"],
     "d1.csr: no such file or directory"),
    (["ca", "revoke", "d1", "--ca", "{tmp}/noca"], "cannot read them"),
    (["config", "push", "{key}", "--store", "s1", *KEY, *AT], "content.key: not TOML"),
    (["config", "push", "{tmp}/overlay.toml", "--store", "s1", *KEY, *AT],
     "overlay.toml: cannot read it (no such file or directory)"),
]  # fmt: skip


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "content"
    shutil.copytree(ROOT / "signage_content", folder)
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "playlist.json").write_text(json.dumps({"playlist": [{"id": "x", "kind": "nope"}]}))
    key = write_new_key(tmp_path / "content.key", "k1", force=False)
    (tmp_path / "ca.pem").write_text("not used")
    return {
        "tmp": str(tmp_path),
        "folder": str(folder),
        "bad": str(bad),
        "key": str(tmp_path / "content.key"),
        "pub": key.public_b64,
        "closed": str(free_port()),
    }


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_bad_input_is_refused_in_words_with_exit_2(
    args: list[str], words: str, places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(**places) for a in args]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a flag's value itself
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err
    assert "Traceback" not in err
    assert not (Path(places["tmp"]) / "m").exists() and not (Path(places["tmp"]) / "p").exists()


def test_content_check_names_each_problem_and_exits_1(
    places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that parses but a screen would refuse is a verdict (exit 1), not bad input."""
    assert main(["content", "check", places["bad"]]) == 1
    out, err = capsys.readouterr()
    assert "problem: slide 'x', kind:" in out, out
    assert "1 problem(s); a screen would refuse this" in err
    assert main(["content", "check", places["folder"]]) == 0
    assert "a screen accepts it" in capsys.readouterr().err
