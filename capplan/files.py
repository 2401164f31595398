"""Reading and writing the user's files: the one place OS and decoding errors become a one-line
:class:`CapplanError` naming the path (a directory where a file was expected, a missing parent, no
permission, bytes that are not UTF-8 ...)."""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from capplan.errors import CapplanError


def os_error_message(exc: OSError, action: str) -> str:
    """What went wrong, in words (no errno numbers)."""
    if isinstance(exc, FileNotFoundError):
        return "file not found" if action == "read" else f"cannot {action}: a folder on the path does not exist"
    if isinstance(exc, IsADirectoryError):
        return f"cannot {action}: is a directory, expected a file"
    if isinstance(exc, NotADirectoryError):
        return f"cannot {action}: a part of the path is a file, expected a directory"
    if isinstance(exc, FileExistsError):
        return f"cannot {action}: a file is in the way (expected a directory)"
    if isinstance(exc, PermissionError):
        return f"cannot {action}: permission denied"
    if exc.errno == errno.ENOSPC:
        return f"cannot {action}: no space left on the device"
    if exc.errno == errno.EROFS:
        return f"cannot {action}: read-only file system"
    return f"cannot {action}: {exc.strerror or exc}"


@contextmanager
def user_path(path: Path | str, action: str = "read", field: str | None = None) -> Iterator[None]:
    """Turn OSError and UnicodeDecodeError raised inside into a CapplanError naming ``field`` (or the path)."""
    where = field or str(path)
    try:
        yield
    except UnicodeDecodeError as exc:
        raise CapplanError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                           field=where) from None
    except OSError as exc:
        name = exc.filename if field is None and exc.filename else where
        raise CapplanError(os_error_message(exc, action), field=str(name)) from None


def read_text(path: Path | str, field: str | None = None) -> str:
    with user_path(path, "read", field):
        if Path(path).is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        return Path(path).read_text(encoding="utf-8")


def write_text(path: Path | str, text: str, field: str | None = None) -> None:
    with user_path(path, "write", field):
        Path(path).write_text(text, encoding="utf-8")


def replace_atomically(path: Path | str, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8, no newline translation) to ``path`` all at once or not at all:
    a temp file in the same folder, fsync, then :func:`os.replace`. A reader sees the old file or the
    new one, never half of it; an existing file keeps its mode (a new one gets 0644). The folder must
    exist. Raises OSError: :func:`write_atomic` turns it into a one-line error."""
    path = Path(path)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path | str, data: bytes | str, field: str | None = None) -> None:
    """:func:`replace_atomically`, an error naming ``field`` (or the path) if it fails."""
    path = Path(path)
    with user_path(path, "write", field):
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        replace_atomically(path, data)


def ensure_dir(path: Path | str, field: str | None = None) -> Path:
    """``path`` as a directory, created with its parents when missing; a file in the way is an error."""
    path = Path(path)
    with user_path(path, "create the folder", field):
        if path.exists() and not path.is_dir():
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
    return path


class _Loader(yaml.SafeLoader):
    """safe_load, except that a scalar that looks like a date but is none (2026-13-45) stays a
    string: the schema then names the field it sits in, instead of a bare "month must be in 1..12"."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def parse_yaml(text: str, name: str) -> Any:
    """YAML text to Python data; malformed YAML is one line naming ``name``, the line and the problem."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CapplanError(f"malformed YAML{where}: {problem}", field=name) from None
    except (ValueError, OverflowError) as exc:  # a scalar YAML types but cannot build, e.g. the date 2026-13-45
        raise CapplanError(f"malformed YAML: {exc}", field=name) from None


def read_yaml(path: Path | str) -> Any:
    return parse_yaml(read_text(path), str(path))
