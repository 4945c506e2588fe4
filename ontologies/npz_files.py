"""One .npz file holding named arrays plus JSON metadata, written atomically and read without pickle.

Used for the compiled HPO cache and the saved case index: both are read by many processes (web,
workers, possibly under other accounts) while one may be rewriting them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


def write_npz_atomically(
    path: Path, metadata: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
) -> None:
    """Write `arrays` and `metadata` (JSON-serialisable) to `path`, replacing it atomically.

    Writes beside the target and renames, so a reader sees the old file or the complete new one,
    never a partial write; concurrent writers simply race to rename. The file is made readable by
    other accounts (mkstemp creates it 0600).
    """
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the metadata")
    meta_bytes = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            # No pickles, as read_npz refuses them: an object array fails here, not on reading.
            # (Named, allow_pickle also keeps it from being taken for an array name.)
            np.savez(
                file, allow_pickle=False, meta=np.frombuffer(meta_bytes, dtype=np.uint8), **arrays
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_npz(
    path: Path, array_names: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Read the metadata and the named arrays of a file written by `write_npz_atomically`.

    Raises ValueError when the file has no readable metadata or lacks one of `array_names`;
    pickled objects are refused (allow_pickle=False), so a tampered file cannot run code.
    """
    with np.load(path, allow_pickle=False) as data:
        try:
            metadata = json.loads(data["meta"].tobytes().decode("utf-8"))
            arrays = {name: data[name] for name in array_names}
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path} is not a file of the expected kind: {error}") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"{path} has no metadata object")
    return metadata, arrays
