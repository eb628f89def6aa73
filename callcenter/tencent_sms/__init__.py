"""Tencent Cloud SMS (腾讯云短信, API 2021-01-11) as a template SMS path (docs/sms.md)."""
