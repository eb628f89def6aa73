"""Operator accounts: roles and what they may do, passwords, sessions, CSRF, login limits, audit."""
