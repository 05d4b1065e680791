"""forked_preparation: the RSA keys made ahead in threads are the ones the preparation then uses, and a
preparation that fails says why (tests/serving/test_serve.py starts `mockidp serve` with both)."""

from __future__ import annotations

from pathlib import Path

from mockidp import forked_preparation
from mockidp.local_ca import CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY
from mockidp.preparation import prepare
from mockidp.settings import Settings
from mockidp.tokens.keys import CERT_FILE, ISSUER_CERT_FILE, ISSUER_KEY_FILE, KEY_FILE
from tests.conftest import DEMO_SEED

MADE_AHEAD = (KEY_FILE, CERT_FILE, ISSUER_KEY_FILE, ISSUER_CERT_FILE)


def test_the_keys_made_ahead_are_the_ones_the_preparation_keeps(tmp_path: Path) -> None:
    settings = Settings(seed=[DEMO_SEED], data_dir=tmp_path / "data", tls=True)
    threads = forked_preparation.keys_ahead(settings)
    assert len(threads) == 2  # the signing and issuer keys; the CA's and the server's (TLS)
    for t in threads:
        t.join(timeout=60)
    made = {name: (settings.data_dir / name).read_bytes()
            for name in (*MADE_AHEAD, CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)}
    assert all(made.values())
    prepare(settings).engine.dispose()  # what the child runs (here in this process: no fork of pytest's)
    assert {name: (settings.data_dir / name).read_bytes() for name in made} == made  # none made again


def test_without_tls_no_certificate_is_made_ahead(tmp_path: Path) -> None:
    settings = Settings(seed=[DEMO_SEED], data_dir=tmp_path / "data", tls=False)
    threads = forked_preparation.keys_ahead(settings)
    assert len(threads) == 1
    threads[0].join(timeout=60)
    assert all((settings.data_dir / name).exists() for name in MADE_AHEAD)
    assert not (settings.data_dir / SERVER_CERT).exists()


def test_keys_that_cannot_be_made_ahead_are_left_to_the_preparation_to_report(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")
    settings = Settings(seed=[DEMO_SEED], data_dir=blocked / "data", tls=False)
    threads = forked_preparation.keys_ahead(settings)
    for t in threads:
        t.join(timeout=60)  # ended, the error not raised in the thread (pytest would report it)
    assert not any(t.is_alive() for t in threads)
