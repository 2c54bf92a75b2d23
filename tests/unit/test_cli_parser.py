"""The command line without a database: help texts, option parsing, connection settings."""

from __future__ import annotations

import argparse
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from scyllabatch import Secret, StoreConfig, StoreValidationError
from scyllabatch._driver import cluster_port, contact_point
from scyllabatch.cli import UsageError, build_parser, connection_config, main

PASSWORD = "cli-pw-4d1e0b"


def parse(argv: list[str], environ: dict[str, str] | None = None) -> argparse.Namespace:
    return build_parser(environ or {}).parse_args(argv)


def help_text(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"], environ={})
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_help_is_plain_text_with_descriptions_and_defaults(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one help entry per line
    top = help_text(capsys, [])
    assert "``" not in top  # no raw reST
    assert "::" not in top
    commands = ("demo", "bench", "doctor", "load", "export")
    for command in commands:
        assert command in top
    pages = {command: help_text(capsys, [command]) for command in commands}
    for command, page in pages.items():
        _usage, _, rest = page.partition("\n\n")
        description = rest.split("\n\n")[0]
        assert len(description) > 80, f"{command} has no description"
        assert "``" not in page
        assert "(default: LOCAL_QUORUM)" in page
        assert "(default: 9042)" in page
        assert "SCYLLABATCH_PASSWORD" in page
        assert "--password" not in page
    assert "(default: 200)" in pages["demo"]
    assert "(default: 10,100)" in pages["bench"]
    assert "(default: 20)" in pages["doctor"]
    assert "(default: 500)" in pages["load"]
    assert "--resume" in pages["load"]
    assert "--prefix" in pages["export"]
    assert "(default: None)" not in "".join(pages.values())


def test_environment_defaults_and_bad_environment_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse(["doctor"], {"SCYLLABATCH_HOSTS": "h1, h2:9142", "SCYLLABATCH_PORT": "9043"})
    assert args.hosts == ("h1", "h2:9142")
    assert args.port == 9043
    # a bad SCYLLABATCH_PORT is a one-line usage error, not a traceback
    assert main(["doctor"], environ={"SCYLLABATCH_PORT": "abc"}) == 2
    err = capsys.readouterr().err
    assert "SCYLLABATCH_PORT='abc'" in err
    assert "port number" in err
    assert "Traceback" not in err
    assert main(["doctor"], environ={"SCYLLABATCH_HOSTS": "h1:99999"}) == 2
    assert "SCYLLABATCH_HOSTS" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--ops", "0"], "--ops: must be >= 1"),
        (["demo", "--ops", "x"], "--ops: not an integer"),
        (["demo", "--port", "70000"], "--port: not a port number"),
        (["demo", "--hosts", "h:port"], "invalid port"),
        (["demo", "--consistency", "MOST"], "--consistency"),
        (["demo", "--ssl-ca", "/nonexistent/ca.pem"], "no readable file"),
        (["demo", "--password", "x"], "unrecognized arguments"),
        (["bench", "--batch-sizes", "5,x"], "comma-separated"),
        (["load", "/nonexistent/items.jsonl"], "no readable file"),
        (["load", "--batch-size", "0", "/nonexistent"], "--batch-size: must be >= 1"),
        (["export", "--filter", "[1]"], "must be a JSON object"),
        (["export", "--filter", "{"], "not valid JSON"),
    ],
)
def test_bad_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, environ={})
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_load_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text('{"namespace": ["a"], "key": "k", "value": {}}\n')
    assert main(["load", str(items), "--dry-run", "--resume"], environ={}) == 2
    assert "--dry-run checks the whole file" in capsys.readouterr().err
    assert main(["load", str(items), "--resume"], environ={}) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["load", str(items), "--dry-run", "--progress", "off"], environ={}) == 0
    assert "checked 1 rows" in capsys.readouterr().out


def test_connection_options_reach_the_config() -> None:
    args = parse(
        [
            "bench",
            "--hosts",
            "10.0.0.5,[::1]:9142",
            "--port",
            "9043",
            "--local-dc",
            "dc2",
            "--consistency",
            "one",
            "--username",
            "app",
        ]
    )
    config = connection_config(args, environ={"SCYLLABATCH_PASSWORD": PASSWORD})
    assert config.hosts == ("10.0.0.5", "[::1]:9142")
    assert config.port == 9043
    assert config.local_dc == "dc2"
    assert config.read_consistency == config.write_consistency == "ONE"
    assert config.username == "app"
    assert isinstance(config.password, Secret)
    assert config.password.get_secret_value() == PASSWORD
    assert config.ssl_context is None
    assert PASSWORD not in repr(config)


def test_password_comes_from_the_prompt_when_the_environment_has_none() -> None:
    args = parse(["doctor", "--username", "app"], {"SCYLLABATCH_USERNAME": "ignored"})
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return PASSWORD

    config = connection_config(args, environ={}, prompt=prompt)
    assert asked == ["password for app: "]
    assert isinstance(config.password, Secret)
    assert config.password.get_secret_value() == PASSWORD
    # no environment variable, no terminal and no prompt: a clear error
    with pytest.raises(UsageError, match="SCYLLABATCH_PASSWORD"):
        connection_config(args, environ={})
    # without --username nothing is asked
    assert connection_config(parse(["doctor"]), environ={}, prompt=prompt).password is None
    assert len(asked) == 1
    # the username may come from the environment
    assert parse(["doctor"], {"SCYLLABATCH_USERNAME": "env-user"}).username == "env-user"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate + key signed by it (PEM files), made with openssl."""
    openssl = shutil.which("openssl")
    assert openssl, "these tests need the openssl command to make certificates"
    root = tmp_path_factory.mktemp("pki")
    files = {name: root / f"{name}.pem" for name in ("ca", "ca_key", "cert", "key", "csr")}

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    new_key = ["-newkey", "rsa:2048", "-nodes"]
    run("req", "-x509", *new_key, "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(files["ca_key"]), "-out", str(files["ca"]))  # fmt: skip
    run("req", *new_key, "-subj", "/CN=client",
        "-keyout", str(files["key"]), "-out", str(files["csr"]))  # fmt: skip
    run("x509", "-req", "-in", str(files["csr"]), "-CA", str(files["ca"]),
        "-CAkey", str(files["ca_key"]), "-CAcreateserial", "-days", "2",
        "-out", str(files["cert"]))  # fmt: skip
    return files


def test_tls_options_build_an_ssl_context(pki: dict[str, Path]) -> None:
    args = parse(
        [
            "doctor",
            "--ssl-ca",
            str(pki["ca"]),
            "--ssl-cert",
            str(pki["cert"]),
            "--ssl-key",
            str(pki["key"]),
        ]
    )
    context = connection_config(args, environ={}).ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] == 1  # exactly our CA, not the system's

    relaxed = parse(["doctor", "--ssl-ca", str(pki["ca"]), "--ssl-no-hostname-check"])
    context = connection_config(relaxed, environ={}).ssl_context
    assert context is not None
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED  # the certificate is still verified

    system = connection_config(parse(["doctor", "--ssl"]), environ={}).ssl_context
    assert system is not None
    assert system.verify_mode == ssl.CERT_REQUIRED


def test_bad_tls_combinations_are_usage_errors(pki: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="--ssl-key needs --ssl-cert"):
        connection_config(parse(["doctor", "--ssl-key", str(pki["key"])]), environ={})
    with pytest.raises(UsageError, match="needs TLS"):
        connection_config(parse(["doctor", "--ssl-no-hostname-check"]), environ={})
    # a key that does not belong to the certificate
    wrong = parse(["doctor", "--ssl-cert", str(pki["cert"]), "--ssl-key", str(pki["ca_key"])])
    with pytest.raises(UsageError, match="TLS files"):
        connection_config(wrong, environ={})
    # a file that is not PEM at all
    with pytest.raises(UsageError, match="TLS files"):
        connection_config(parse(["doctor", "--ssl-ca", str(pki["csr"])]), environ={})


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", 9042)),
        ("10.0.0.5:9142", ("10.0.0.5", 9142)),
        (" db.example.com:19042 ", ("db.example.com", 19042)),
        ("::1", ("::1", 9042)),
        ("[::1]", ("::1", 9042)),
        ("[::1]:9142", ("::1", 9142)),
        ("[2001:db8::7]:9042", ("2001:db8::7", 9042)),
    ],
)
def test_host_entries(entry: str, expected: tuple[str, int]) -> None:
    assert contact_point(entry, 9042) == expected


@pytest.mark.parametrize(
    "entry", ["", ":9042", "h:", "h:0", "h:65536", "h:x", "[::1", "[::1]x", "[]:9042", "a b"]
)
def test_bad_host_entries(entry: str) -> None:
    with pytest.raises(StoreValidationError) as caught:
        contact_point(entry, 9042)
    assert caught.value.field == "hosts"


@pytest.mark.parametrize(
    ("hosts", "port", "expected"),
    [
        (("a", "b"), 9042, 9042),  # no port given anywhere
        (("a:9142", "b:9142"), 9042, 9142),  # every host names the same port
        (("a:9142", "b"), 9042, 9042),  # mixed: discovered nodes use `port`
        (("a:9142", "b:9143"), 9042, 9042),
    ],
)
def test_port_for_discovered_nodes(hosts: tuple[str, ...], port: int, expected: int) -> None:
    assert cluster_port(StoreConfig(hosts=hosts, port=port)) == expected
