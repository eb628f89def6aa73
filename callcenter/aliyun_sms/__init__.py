"""Aliyun SMS (阿里云短信, dysmsapi 2017-05-25) as a template SMS path (docs/sms.md)."""
