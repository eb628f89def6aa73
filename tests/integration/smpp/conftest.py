"""Fixtures of the SMPP tests: Jasmin (the real SMPP server) with its carrier stub, and the service
built by the composition root with ``engine.sms_channel = "smpp"`` bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.bootstrap import Container
from tests.integration.smpp.jasmin_rig import JasminRig
from tests.integration.smpp.service import serve


@pytest.fixture(scope="module")
def jasmin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JasminRig]:
    rig = JasminRig(tmp_path_factory.mktemp("jasmin")).start()
    yield rig
    rig.stop()


@pytest.fixture
def service(jasmin: JasminRig, sqlite_url: str, tmp_path: Path) -> Iterator[Container]:
    jasmin.carrier.fates.clear()
    jasmin.carrier.receipt_delay = 0.05
    container = serve(jasmin, sqlite_url, tmp_path)
    yield container
    container.close()
