"""Fixtures of the Aliyun / Tencent SMS integration tests (the rig itself is in rig.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cnsms_emulator import AliyunEmulator, TencentEmulator
from tests.integration.cnsms.rig import CloudRig, aliyun_emulator, cloud_rig, tencent_emulator


@pytest.fixture
def aliyun() -> Iterator[AliyunEmulator]:
    with aliyun_emulator() as running:
        yield running


@pytest.fixture
def tencent() -> Iterator[TencentEmulator]:
    with tencent_emulator() as running:
        yield running


@pytest.fixture
def rig(database_url: str, tmp_path: Path, aliyun: AliyunEmulator, tencent: TencentEmulator) -> Iterator[CloudRig]:
    with cloud_rig(database_url, tmp_path, aliyun, tencent) as running:  # SQLite and PostgreSQL
        yield running
