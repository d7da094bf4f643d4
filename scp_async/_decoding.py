"""How the generated models read response bodies: lenient where the services deviate, precise where they fail.

The generated ``from_dict`` methods call these helpers (see ``scripts/pipeline/templates``). The rules:

- A value of another JSON type than the spec declares (``null`` for an object or a list, a number for a
  date, a string for an object) never loses the response: the value is **kept as sent** in its field and a
  warning naming the field's JSON path goes to the ``scp_async`` logger. Known deviations are fixed in
  the specs (``specs/overlays``); this is the safety net for the ones nobody has seen yet.
- A date-time is read from every form SAP's services send: ISO 8601 with or without an offset (no offset
  means UTC), epoch milliseconds as a number or a numeric string, and ``java.time``'s zoned form
  ``2017-11-24T13:35:45.831Z[UTC]`` / ``...+01:00[Europe/Berlin]``. Every result is timezone-aware.
- A date-time string or number that cannot be read (garbage, ``1e300``) is not a date we can keep typed:
  it raises :class:`ResponseDecodeError` naming the JSON path, what was expected and what came.
- A missing required field raises :class:`ResponseDecodeError` with the path of the field.

The facade turns :class:`ResponseDecodeError` into :class:`~scp_async.InvalidResponseError` with the
operation's name.
"""

from __future__ import annotations

import datetime
import itertools
import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._logging import logger

__all__ = [
    "ReadOnFirstUse",
    "ResponseDecodeError",
    "array",
    "date",
    "date_time",
    "enum",
    "epoch_milliseconds",
    "fill",
    "is_array",
    "item",
    "json_type",
    "kept",
    "model",
    "models",
    "parse_date_time",
    "uuid_",
]

T = TypeVar("T")
_ROOT = "$"
# The JSON path of the object being read, so a warning deep inside names where it is. Parsing never
# awaits, so a per-thread slot is enough (and far cheaper than a ContextVar on every nested object).
_STATE = threading.local()
_EXCERPT = 40
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# java.time ISO_ZONED_DATE_TIME / ISO_DATE_TIME: an ISO date-time, optionally followed by `[Region/Zone]`.
_ZONE_SUFFIX = re.compile(r"^(?P<iso>[^\[\]]+)\[(?P<zone>[^\[\]]+)\]$")
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
DATE_TIME_FORMS = "a date-time (ISO 8601, epoch milliseconds, or ISO 8601 with a [zone])"


class ResponseDecodeError(ValueError):
    """A response body that cannot be read as its operation's model.

    ``path`` is the JSON path of the offending value (``$.resources[2].created_at``), ``expected`` what the
    spec declares, ``got`` what came (its JSON type, and for a date-time a short excerpt of the value).
    """

    def __init__(self, path: str, expected: str, got: str) -> None:
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(f"{path}: expected {expected}, got {got}")


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type (never the value: it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _child(name: str | None) -> str:
    if name is None:
        return _ROOT
    index = getattr(_STATE, "index", None)
    if index is not None and name.endswith("[]"):  # an item of a list read by `item`: name it by its index
        name = f"{name[:-2]}[{index}]"
    return f"{getattr(_STATE, 'path', _ROOT)}.{name}"


class _Retrack(BaseException):
    """Met a deviation while reading a body without paths: read it again, with them.

    A BaseException so that the generated union code, which tries its members and catches ordinary
    errors, lets it through to :func:`_read_body`, which never lets it out.
    """


def _tracking() -> bool:
    # Reading outside _read_body (a user calling Model.from_dict) always tracks paths. None is "without
    # paths, and every object met fits its shape" (a field read on first use, see `fill`).
    return bool(getattr(_STATE, "tracking", True))


def _read_body(read: Callable[[], T]) -> T:
    """Read a body fast, without JSON paths; should anything deviate, read it again with paths.

    Paths cost a string and two thread-local writes per nested object (a CF app has ~25 of them), and
    are needed only for a warning or an error, which are rare: the second reading logs and raises
    exactly what a reading with paths all along would have.
    """
    if not _tracking():  # a body inside a body: the outer reading decides
        return read()
    _STATE.tracking = False
    try:
        try:
            return read()
        except (_Retrack, KeyError, ResponseDecodeError):
            pass
        _STATE.tracking = True
        return read()
    finally:
        del _STATE.tracking


def _kept_at(value: T, path: str, expected: str) -> T:
    if not _tracking():
        raise _Retrack
    logger.warning("response field %s: expected %s, got %s; kept as sent", path, expected, json_type(value))
    return value


def kept(value: T, name: str | None, expected: str) -> T:
    """Keep a value of an unexpected JSON type as it came, with a warning naming its field."""
    if name is None:  # the body itself: nothing of it could be typed
        raise ResponseDecodeError(_ROOT, expected, json_type(value))
    if not _tracking():
        raise _Retrack
    return _kept_at(value, _child(name), expected)


# -- date-times ------------------------------------------------------------------------------------------


def _from_epoch_ms(milliseconds: float) -> datetime.datetime | None:
    if not math.isfinite(milliseconds):
        return None
    try:
        return _EPOCH + datetime.timedelta(milliseconds=milliseconds)
    except OverflowError:
        return None


def _from_iso(text: str) -> datetime.datetime | None:
    zone: str | None = None
    if text.endswith("]"):
        match = _ZONE_SUFFIX.match(text)
        if match is None:
            return None
        text, zone = match["iso"], match["zone"]
    try:
        result = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=_zone(zone) if zone else datetime.UTC)
    return result


def _zone(name: str) -> datetime.tzinfo:
    # A region without an offset in the text (ISO_DATE_TIME allows it): the region decides.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def parse_date_time(value: str | float) -> datetime.datetime | None:
    """A timezone-aware datetime from any form SAP's services send, or None if `value` is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch_ms(float(value))
    if value.isdigit():  # epoch milliseconds as text (never read as a basic-format ISO date)
        return _from_epoch_ms(float(value))
    try:  # the common case first, at C speed
        result = datetime.datetime.fromisoformat(value)
    except ValueError:
        text = value.strip()
        if _NUMERIC.match(text):
            return _from_epoch_ms(float(text))
        return _from_iso(text)
    return result if result.tzinfo is not None else result.replace(tzinfo=datetime.UTC)


def _excerpt(value: object) -> str:
    text = repr(value)
    return f"{json_type(value)} {text[:_EXCERPT]}{'...' if len(text) > _EXCERPT else ''}"


def date_time(value: Any, name: str) -> Any:
    """A date-time field: a datetime, the value kept as sent (wrong JSON type), or ResponseDecodeError."""
    if type(value) is str and not value.isdigit():  # the common case (ISO 8601) without parse_date_time's checks
        try:
            iso = datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return iso if iso.tzinfo is not None else iso.replace(tzinfo=datetime.UTC)
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return kept(value, name, DATE_TIME_FORMS)
    result = parse_date_time(value)
    if result is None:
        raise ResponseDecodeError(_child(name), DATE_TIME_FORMS, _excerpt(value))
    return result


def epoch_milliseconds(value: datetime.datetime) -> int:
    """A date-time as the epoch milliseconds a service sends for it (no offset means UTC, as when reading).

    Exact integer arithmetic: a value read from epoch milliseconds gives back the same number.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return (value - _EPOCH) // datetime.timedelta(milliseconds=1)


def date(value: Any, name: str) -> Any:
    """A date field (``YYYY-MM-DD``): a date, the value kept as sent (wrong JSON type), or ResponseDecodeError."""
    if isinstance(value, datetime.date):
        return value
    if not isinstance(value, str):
        return kept(value, name, "a date (YYYY-MM-DD)")
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise ResponseDecodeError(_child(name), "a date (YYYY-MM-DD)", _excerpt(value)) from None


# -- other scalars ---------------------------------------------------------------------------------------


def uuid_(value: Any, name: str) -> Any:
    """A UUID field; a string that is no UUID (a documentation placeholder) is kept as sent."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return kept(value, name, "a UUID")
    return kept(value, name, "a UUID")


def enum(cls: Callable[[Any], T], value: Any, name: str) -> T | Any:
    """An enum field (unknown values of the right type are kept by the enum itself)."""
    try:
        return cls(value)
    except ValueError:
        return kept(value, name, f"a {getattr(cls, '__name__', 'enum')} value")


# -- objects and lists -----------------------------------------------------------------------------------


def _model_at(cls: type[Any], value: Any, path: str) -> Any:
    if type(value) is not dict and not isinstance(value, Mapping):  # the ABC check only off the fast path
        if path == _ROOT:
            raise ResponseDecodeError(path, f"an object ({cls.__name__})", json_type(value))
        return _kept_at(value, path, f"an object ({cls.__name__})")
    outer = getattr(_STATE, "path", _ROOT)
    outer_index = getattr(_STATE, "index", None)
    _STATE.path = path
    _STATE.index = None  # the item's own fields are no items of the outer list
    try:
        return cls.from_dict(value)
    except KeyError as exc:  # the generated code pops required fields
        key = exc.args[0] if exc.args else "?"
        raise ResponseDecodeError(f"{path}.{key}", f"required field {key!r}", "missing") from None
    finally:
        _STATE.path = outer
        _STATE.index = outer_index


def model(cls: type[Any], value: Any, name: str | None) -> Any:
    """A nested object (``name`` None: the body itself) read as `cls`, or kept as sent if it is no object."""
    if name is None:
        if type(value) is dict:  # a parsed body is ours: it may be kept as it came, like the objects in it
            kept = _kept_if_it_fits(cls, value)
            if kept is not None:
                return kept
        return _read_whole(cls, value)
    tracking = getattr(_STATE, "tracking", True)  # _tracking(), inlined: this runs for every nested object
    if not tracking:
        if type(value) is dict:
            if tracking is None and issubclass(cls, ReadOnFirstUse):  # it fits: the outer shape holds its own
                deferred = object.__new__(cls)
                deferred._scp_source = value
                return deferred
            return _read_untracked(cls, value)
        raise _Retrack
    return _model_at(cls, value, _child(name))


def _read_whole(cls: type[Any], value: Any) -> Any:
    # Apart from `model`: its lambda's cells would be made on every call of `model`, used or not.
    return _read_body(lambda: _model_at(cls, value, _ROOT))


def _read_untracked(cls: type[Any], value: dict[str, Any]) -> Any:
    """`value` read as `cls` on the fast path: kept to be read on first use if it fits the class's shape."""
    kept = _kept_if_it_fits(cls, value)
    return kept if kept is not None else cls.from_dict(value)


def _kept_if_it_fits(cls: type[Any], value: dict[str, Any]) -> Any:
    """A `cls` keeping `value` to be read on first use if `value` fits the class's shape, else None.

    Only bodies are kept so (see `fill`): a dict a caller passes to `from_dict` may change after, a parsed
    body is ours.
    """
    fits = _FITTERS.get(cls, _UNKNOWN)
    if fits is _UNKNOWN:
        fits = _FITTERS[cls] = _fitter(getattr(cls, "_scp_shape", None))
    if fits is not None and fits(value):
        kept = object.__new__(cls)
        kept._scp_source = value
        return kept
    return None


_Shape = tuple[tuple[str, ...], tuple[tuple[str | None, str, Any], ...]]
# What `uuid.UUID` reads without a doubt; other spellings it takes are read at once, as before.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


_FITTERS: dict[type[Any], Callable[[dict[str, Any]], bool] | None] = {}
_UNKNOWN: Any = object()


def _fitter(shape: _Shape | None) -> Callable[[dict[str, Any]], bool] | None:
    """A function telling whether reading a dict by a model of this shape can neither fail nor warn.

    The tests are those ``scripts/pipeline/deferred.py`` writes into the shape. The shape is turned into
    straight-line code once per class (as attrs writes its ``__init__``): walking the shape's tuples for
    every object of every body cost more than the eager reading it was to save. Keys are written as
    ``repr()`` literals, so a key from a spec is never code.
    """
    if shape is None:
        return None
    lines = ["def fits(value):"]
    names = itertools.count()
    constants: dict[str, Any] = {}

    def emit(var: str, shape: _Shape, depth: int) -> None:
        pad = "    " * depth
        required, checks = shape
        if len(required) == 1:
            lines.append(f"{pad}if {required[0]!r} not in {var}: return False")
        elif required:  # one test in C for all of them
            keys = f"REQUIRED{len(constants)}"
            constants[keys] = frozenset(required)
            lines.append(f"{pad}if not {var}.keys() >= {keys}: return False")
        for key, test, inner in checks:
            if key is None:  # the undeclared keys: additional properties that are plain lists
                if test != "list":
                    lines.append(f"{pad}return False")  # a test this version does not know: read at once
                    continue
                lines.append(f"{pad}for key, item in {var}.items():")
                lines.append(f"{pad}    if type(item) is not list and key not in {tuple(inner)!r}: return False")
                continue
            item = f"item{next(names)}"
            if key in required and test != "absent":  # present: proven above
                lines.append(f"{pad}{item} = {var}[{key!r}]")
                inside = pad
            else:
                lines.append(f"{pad}{item} = {var}.get({key!r}, ABSENT)")
                if test == "absent":  # present, and reading it might warn or fail
                    lines.append(f"{pad}if {item} is not ABSENT: return False")
                    continue
                lines.append(f"{pad}if {item} is not ABSENT:")
                inside = pad + "    "
            if test == "object":
                lines.append(f"{inside}if type({item}) is not dict: return False")
                emit(item, inner, len(inside) // 4)
            elif test == "object or null":
                lines.append(f"{inside}if {item} is not None:")
                lines.append(f"{inside}    if type({item}) is not dict: return False")
                emit(item, inner, len(inside) // 4 + 1)
            elif test == "uuid":
                lines.append(f"{inside}if type({item}) is not str or CANONICAL_UUID({item}) is None: return False")
            elif test == "date-time":
                # Epoch milliseconds (cis) are checked inline: a call per date of every object was a tenth of this.
                lines.append(f"{inside}if type({item}) is int:")
                lines.append(f"{inside}    if not EPOCH_MS_MIN <= {item} <= EPOCH_MS_MAX: return False")
                lines.append(f"{inside}elif not DATE_TIME({item}): return False")
            elif test == "list":
                lines.append(f"{inside}if type({item}) is not list: return False")
            elif test == "str":
                lines.append(f"{inside}if type({item}) is not str: return False")
            else:  # a test this version does not know: read at once
                lines.append(f"{inside}return False")

    emit("value", shape, 1)
    lines.append("    return True")
    scope: dict[str, Any] = {
        "ABSENT": _ABSENT,
        "CANONICAL_UUID": _CANONICAL_UUID.fullmatch,
        "DATE_TIME": _reads_as_date_time,
        "EPOCH_MS_MIN": _EPOCH_MS_MIN,
        "EPOCH_MS_MAX": _EPOCH_MS_MAX,
        **constants,
    }
    exec(compile("\n".join(lines), "<scp_async read-on-first-use shape>", "exec"), scope)
    fits: Callable[[dict[str, Any]], bool] = scope["fits"]
    return fits


# The epoch milliseconds of datetime.min and datetime.max (UTC): what `_from_epoch_ms` reads without overflow.
_EPOCH_MS_MIN = -62_135_596_800_000
_EPOCH_MS_MAX = 253_402_300_799_999


def _reads_as_date_time(value: Any) -> bool:
    """Whether :func:`date_time` reads `value` without a doubt (then it neither fails nor warns): an ISO
    8601 string its fast path reads, or a number of epoch milliseconds within datetime's years."""
    kind = type(value)
    if kind is str:
        if value.isdigit():
            return False
        try:
            datetime.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    if kind is int or kind is float:  # not bool; NaN and the infinities compare False
        return bool(_EPOCH_MS_MIN <= value <= _EPOCH_MS_MAX)
    return False


_ABSENT: Any = object()


class ReadOnFirstUse:
    """Base of the generated models that are read on first use (see ``scripts/pipeline/deferred.py``).

    Reading a response body, :func:`model` makes such a model empty, with the body kept in the slot
    ``_scp_source``, when the body fits the class's ``_scp_shape`` (then reading it can neither fail nor
    warn); the first access to a field reads that field (the generated ``_scp_read``). Not an attrs field:
    ``attrs.fields``, ``to_dict``, equality and pickling see only the model's own fields (each read on
    first use like any access).
    """

    __slots__ = ("_scp_source",)
    _scp_source: dict[str, Any]

    if not TYPE_CHECKING:  # a type checker would take any attribute for one (and protocols for matched)

        def __getattr__(self, name: str) -> Any:
            return fill(self, name)


def unread_body(target: Any) -> dict[str, Any] | None:
    """The body a model read on first use was made from (fields are read from it as they are used); None
    for a model read at once or made by its constructor."""
    if not isinstance(target, ReadOnFirstUse):
        return None
    try:
        source: dict[str, Any] = object.__getattribute__(target, "_scp_source")
    except AttributeError:
        return None
    return source


def fill(target: Any, name: str) -> Any:
    """Read the field `name` of the body a model read on first use keeps, set it, and return it.

    Each field is read when first used, alone (a caller listing apps by name pays for neither their
    dates nor their links); fields set before, by reading or by a caller, are not read again. An
    attribute that is no field raises AttributeError as usual.
    """
    try:
        source = object.__getattribute__(target, "_scp_source")
    except AttributeError:  # made by its constructor
        source = None
    if source is None or name == "_scp_source" or name.startswith("__"):
        raise AttributeError(f"{type(target).__name__!r} object has no attribute {name!r}")
    read = type(target)._scp_read
    # The body fitted the shape: reading a field neither fails nor warns, so it goes without paths, and
    # the objects nested in it (they fitted too) are again read on first use.
    outer = getattr(_STATE, "tracking", True)
    _STATE.tracking = None
    try:
        try:
            value = read(source, name)
        except (_Retrack, KeyError, ResponseDecodeError):  # cannot happen; if it did, say where, as ever
            _STATE.tracking = True
            value = read(source, name)
    finally:
        _STATE.tracking = outer
    object.__setattr__(target, name, value)
    return value


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def read_all(target: Any) -> None:
    """Set every field of a model read on first use that was not read (nor set) yet, from one reading
    of its body: what `to_dict` needs, at the cost of one `from_dict` instead of a `fill` per field."""
    source = unread_body(target)
    if source is None:
        return
    cls = type(target)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        import attrs

        names = _FIELD_NAMES[cls] = tuple(field.name for field in attrs.fields(cls))
    # Read as a caller's `from_dict` reads (the shape fitted, so it neither fails nor warns): the nested
    # objects at once too, as `to_dict` goes on to read them all.
    full = cls.from_dict(source)
    for name in names:
        try:
            object.__getattribute__(target, name)
        except AttributeError:  # not read yet, nor set by a caller
            object.__setattr__(target, name, object.__getattribute__(full, name))
    object.__delattr__(target, "_scp_source")  # every field is set: a model like any other from now on


def models(cls: type[Any], value: Any, name: str | None) -> Any:
    """A list of objects read as `cls` each; a value that is no list is kept as sent."""
    if name is None:
        return _read_body(lambda: _models_at(cls, value, _ROOT))
    if not _tracking():
        if type(value) is list:
            return [_read_untracked(cls, item) if type(item) is dict else _retrack() for item in value]
        raise _Retrack
    return _models_at(cls, value, _child(name))


def _retrack() -> Any:
    raise _Retrack


def _models_at(cls: type[Any], value: Any, path: str) -> Any:
    if not isinstance(value, list):
        if path == _ROOT:
            raise ResponseDecodeError(path, f"an array of {cls.__name__}", json_type(value))
        return _kept_at(value, path, "an array")
    return [_model_at(cls, item, f"{path}[{index}]") for index, item in enumerate(value)]


def item(parse: Callable[[Any], T], value: Any, index: int) -> T:
    """Read the item at `index` of a list with `parse`; what it reads as `name[]` is named `name[index]`.

    For the items of a list of unions (a list of objects goes through :func:`models`).
    """
    if not _tracking():  # no paths to name
        return parse(value)
    outer = getattr(_STATE, "index", None)
    _STATE.index = index
    try:
        return parse(value)
    finally:
        _STATE.index = outer


def array(value: Any, name: str | None) -> Any:
    """A list of scalars; a value that is no list is kept as sent."""
    if isinstance(value, list):
        return value
    return kept(value, name, "an array")


def is_array(value: Any, name: str | None) -> bool:
    """Whether `value` is a list; if not, warn that it is kept as sent (the caller keeps it)."""
    if isinstance(value, list):
        return True
    kept(value, name, "an array")
    return False
