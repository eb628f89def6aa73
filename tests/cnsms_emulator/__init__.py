"""Local emulators of Aliyun SMS's and Tencent Cloud SMS's HTTP APIs, driven by the official SDKs in tests."""

from tests.cnsms_emulator.aliyun import AliyunEmulator
from tests.cnsms_emulator.tencent import TencentEmulator

__all__ = ["AliyunEmulator", "TencentEmulator"]
