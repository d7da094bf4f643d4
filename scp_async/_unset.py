"""`UNSET`: the one marker, shared by every generated API, for a field or argument that was not given."""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = ["UNSET", "Unset"]


class Unset:
    """The type of `UNSET`: a field or argument that was not given (unlike one given as null)."""

    __slots__ = ()
    _instance: ClassVar[Unset | None] = None

    def __new__(cls) -> Unset:
        # One instance, so `value is UNSET` holds across every API and after copy/pickle.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Unset = Unset()
