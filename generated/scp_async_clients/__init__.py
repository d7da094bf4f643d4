"""Typed async clients generated from the OpenAPI documents in `specs/`, one subpackage per API.

Nothing is imported here: each API (and each of its models) loads on first use.
"""
