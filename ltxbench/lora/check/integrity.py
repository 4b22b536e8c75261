"""Is this file a well-formed safetensors file, and are its tensors finite?

The header is parsed here, by hand, *before* the file is given to the ``safetensors`` library:
that way a truncated download or a damaged header gets a message saying which tensor is
incomplete and by how many bytes, and a pickle or a ``torch.save`` zip is refused by its
content, whatever its name, without ever being unpickled. (diffusers 0.42.1 picks the reader by
extension: such a file named ``.safetensors`` fails with an unhelpful ``OSError``; named
``.bin`` / ``.pt`` it is unpickled with ``torch.load(weights_only=True)``.)

Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian header length
``N``, ``N`` bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]},
"__metadata__": {str: str}}``, then the data section; the offsets are relative to its start,
must tile it exactly (no gap, no overlap) and end where the file ends.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# Bytes per element of each safetensors dtype name.
DTYPE_BYTES: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
}
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library refuses larger headers too

# Leading bytes of formats that must never be opened as safetensors.
_PICKLE_MAGIC = b"\x80"  # pickle protocol >= 2 (torch.save with _use_new_zipfile_serialization=False)
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default zip container (holds a pickle)


@dataclass(frozen=True)
class TensorInfo:
    """One header entry: what the tensor claims to be, before any data is read."""

    dtype: str
    shape: tuple[int, ...]
    begin: int = 0
    end: int = 0

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class Integrity:
    """The outcome of :func:`check_file`. ``status`` is ``ok``, ``refused`` (not safetensors at
    all), ``truncated``, ``corrupt`` (header or sizes inconsistent) or ``nonfinite``."""

    path: str
    status: str
    problems: list[str] = field(default_factory=list)
    size: int = 0
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    nonfinite: dict[str, int] = field(default_factory=dict)
    """Tensor name -> number of NaN/inf elements (only tensors that have any)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SafetensorsFormatError(ValueError):
    """The file is not a readable safetensors file; ``status`` says how (see :class:`Integrity`)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def _looks_like_safetensors(head: bytes, first_header_byte: bytes, size: int) -> bool:
    """A safetensors file by its structure: an 8-byte little-endian length that fits the file and
    a header that opens a JSON object. Checked before any magic-byte sniffing: header lengths are
    multiples of 8, so about 1 in 32 valid files begins with 0x80, pickle's protocol byte."""
    if len(head) < 8 or first_header_byte != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head)
    return 2 <= header_len <= MAX_HEADER_BYTES and 8 + header_len <= size


def _sniff_foreign(path: Path, head: bytes) -> str | None:
    if head.startswith(_ZIP_MAGIC):
        return (f"{path}: is a zip archive (the container torch.save writes), not safetensors; it was not "
                "opened, because loading it unpickles code. Convert it to .safetensors in an environment you "
                "trust (torch.load(..., weights_only=True) then safetensors.torch.save_file), or get the "
                ".safetensors release of this LoRA")
    if head.startswith(_PICKLE_MAGIC):
        return (f"{path}: is a Python pickle (legacy torch.save), not safetensors; it was not opened, because "
                "unpickling runs arbitrary code. Convert it to .safetensors in an environment you trust, or "
                "get the .safetensors release of this LoRA")
    return None


def read_header(path: str | Path) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """``(tensors, metadata, file_size)`` from the header of ``path``, every offset validated.

    Reads only the header (cheap even for a 40 GB checkpoint). Raises
    :class:`SafetensorsFormatError` naming the file, the problem and, for truncation, the first
    incomplete tensor.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        foreign = None if _looks_like_safetensors(head, fh.read(1), size) else _sniff_foreign(path, head)
        if foreign:
            raise SafetensorsFormatError("refused", foreign)
        fh.seek(len(head))
        if len(head) < 8:
            raise SafetensorsFormatError("truncated", f"{path}: {size} bytes, too short for the 8-byte safetensors "
                                         "header length; the file is truncated or empty (download it again)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > MAX_HEADER_BYTES:
            raise SafetensorsFormatError("corrupt", f"{path}: header length field says {header_len} bytes (limit "
                                         f"{MAX_HEADER_BYTES}); this is not a safetensors file or its first bytes are damaged")
        if 8 + header_len > size:
            raise SafetensorsFormatError("truncated", f"{path}: header needs {header_len} bytes but only "
                                         f"{size - 8} follow the length field; the file is truncated (download it again)")
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsFormatError("corrupt", f"{path}: header is not valid UTF-8 JSON ({exc}); the file is "
                                     "damaged or not safetensors") from None
    except RecursionError:  # a crafted header nested thousands deep: no real safetensors header nests
        raise SafetensorsFormatError("corrupt", f"{path}: header JSON is nested too deeply to read; the file is "
                                     "damaged or crafted, not a safetensors file") from None
    if not isinstance(header, dict):
        raise SafetensorsFormatError("corrupt", f"{path}: header is JSON but not an object")
    return _parse_entries(path, header, size - 8 - header_len), _parse_metadata(path, header), size


def _parse_metadata(path: Path, header: Mapping[str, Any]) -> dict[str, str]:
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise SafetensorsFormatError("corrupt", f"{path}: __metadata__ must map strings to strings")
    return dict(meta)


def _parse_entries(path: Path, header: Mapping[str, Any], data_len: int) -> dict[str, TensorInfo]:
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise SafetensorsFormatError("corrupt", f"{path}: header entry {name!r} lacks dtype/shape/data_offsets") from None
        if dtype not in DTYPE_BYTES:
            raise SafetensorsFormatError("corrupt", f"{path}: tensor {name!r} has dtype {dtype!r}, which this check "
                                         f"cannot size (known: {', '.join(DTYPE_BYTES)})")
        if not all(isinstance(d, int) and d >= 0 for d in shape) or not all(isinstance(o, int) for o in (begin, end)):
            raise SafetensorsFormatError("corrupt", f"{path}: tensor {name!r} has a malformed shape or offsets")
        info = TensorInfo(dtype, shape, begin, end)
        if end - begin != info.numel * DTYPE_BYTES[dtype] or begin > end:
            raise SafetensorsFormatError("corrupt", f"{path}: tensor {name!r} ({dtype}{list(shape)}) needs "
                                         f"{info.numel * DTYPE_BYTES[dtype]} bytes but its offsets span {end - begin}")
        tensors[name] = info
    if not tensors:
        raise SafetensorsFormatError("corrupt", f"{path}: the header lists no tensors")
    cursor = 0
    expected = max(info.end for info in tensors.values())
    for name, info in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if info.begin != cursor:
            what = "overlaps the previous tensor" if info.begin < cursor else f"leaves a gap of {info.begin - cursor} bytes"
            raise SafetensorsFormatError("corrupt", f"{path}: tensor {name!r} starts at byte {info.begin} of the data "
                                         f"section and {what}; the header is inconsistent")
        if info.end > data_len:
            raise SafetensorsFormatError("truncated", f"{path}: the header describes {expected} bytes of tensor data, "
                                         f"the file holds {data_len} ({expected - data_len} missing); tensor {name!r} "
                                         "and every later one are incomplete. The file is truncated (download it again)")
        cursor = info.end
    if cursor != data_len:
        raise SafetensorsFormatError("corrupt", f"{path}: {data_len - cursor} bytes follow the last tensor; the "
                                     "header does not describe the whole file (damaged or appended to)")
    return tensors


# torch dtype of each safetensors dtype name (names, not objects: torch is imported on first read).
_TORCH_DTYPES: dict[str, str] = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
}


class LazyTensors(Mapping[str, "torch.Tensor"]):
    """The tensors of a file whose header :func:`read_header` validated, read one at a time.

    ``tensors[name]`` reads that tensor's bytes from the file (CPU, its own dtype and shape) and
    keeps nothing, so holding this mapping costs no memory and going through it costs one tensor
    at a time. Plain reads, not a memory map: the pages of a mapping stay in the process's
    resident set until it is unmapped, so reading a 2 GB LoRA through ``safetensors.load_file``
    (or one ``safe_open`` handle) counts the whole file, on top of the copies. Each access reads
    from disk again; callers that need a tensor twice hold on to it themselves.
    """

    def __init__(self, path: Path, infos: Mapping[str, TensorInfo], data_start: int) -> None:
        self.path, self.infos, self.data_start = path, dict(infos), data_start

    def __getitem__(self, name: str) -> "torch.Tensor":
        import torch

        info = self.infos[name]  # KeyError for a name the file does not hold, as a dict would
        dtype = getattr(torch, _TORCH_DTYPES[info.dtype])
        if info.numel == 0:
            return torch.empty(info.shape, dtype=dtype)
        buf = bytearray(info.end - info.begin)
        with self.path.open("rb") as fh:
            fh.seek(self.data_start + info.begin)
            got = fh.readinto(buf)
        if got != len(buf):  # the file shrank since its header was checked
            raise OSError(f"{self.path}: tensor {name!r} ends {len(buf) - got} bytes past the end of the file; "
                          "it changed while being checked")
        # safetensors stores little-endian, as torch on every platform this runs on
        return torch.frombuffer(buf, dtype=dtype).reshape(info.shape)

    def __iter__(self) -> Iterator[str]:
        return iter(self.infos)

    def __len__(self) -> int:
        return len(self.infos)


def count_nonfinite(tensors: Mapping[str, "torch.Tensor"]) -> dict[str, int]:
    """Tensor name -> number of NaN/inf elements, for the floating-point tensors that have any.

    One tensor at a time (``tensors`` may be a :class:`LazyTensors`): the peak is one tensor and
    its boolean mask, never the file."""
    import torch

    bad: dict[str, int] = {}
    for name in tensors:
        tensor = tensors[name]
        if not tensor.is_floating_point():
            continue
        # float8 has no isfinite kernel on every build; widen first (one tensor, freed after).
        t = tensor if tensor.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16) else tensor.float()
        n = int((~torch.isfinite(t)).sum())
        if n:
            bad[name] = n
    return bad


def check_file(path: str | Path) -> tuple[Integrity, Mapping[str, "torch.Tensor"]]:
    """Validate ``path`` and, when the header is sound, count NaN/inf reading one tensor at a time.

    Returns the :class:`Integrity` and the file's tensors as a :class:`LazyTensors` (read on
    access; empty unless the header was sound). The safetensors library also parses the header
    (it reads no tensor data for that), so a file it would refuse is corrupt here too.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        infos, meta, size = read_header(path)
    except SafetensorsFormatError as exc:
        return Integrity(str(path), exc.status, [str(exc)], size=path.stat().st_size), {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            library_keys = set(handle.keys())
        if library_keys != set(infos):
            raise SafetensorError(f"it lists {len(library_keys)} tensors, the header parse {len(infos)}")
        tensors = LazyTensors(path, infos, size - sum(i.end - i.begin for i in infos.values()))
        nonfinite = count_nonfinite(tensors)
    except (SafetensorError, OSError, RuntimeError) as exc:  # the library found what our parse missed
        return Integrity(str(path), "corrupt", [f"{path}: safetensors could not read it: {exc}"], size, infos, meta), {}
    result = Integrity(str(path), "ok", [], size, infos, meta)
    result.nonfinite = nonfinite
    if result.nonfinite:
        result.status = "nonfinite"
        worst = sorted(result.nonfinite.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{k} ({n})" for k, n in worst[:5]) + (" ..." if len(worst) > 5 else "")
        result.problems.append(f"{path}: {len(worst)} tensors hold NaN/inf values: {listed}; the LoRA is damaged "
                               "(a diverged training step, or a bad conversion); use an earlier checkpoint")
    return result, tensors


def infos_of(tensors: Mapping[str, "torch.Tensor"]) -> dict[str, TensorInfo]:
    """Header-like descriptions of an in-memory state dict (no offsets)."""
    return {k: TensorInfo(str(v.dtype).replace("torch.", ""), tuple(v.shape)) for k, v in tensors.items()}
