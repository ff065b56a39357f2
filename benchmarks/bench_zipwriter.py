"""Does the hand-written zip writer still earn its place? Four function archives from the cached dependency
layer, built side by side in one run: the project's writer (entries deflated once, copied into every archive)
against the standard library's ``zipfile`` (deterministic ZipInfo, every archive recompressed).

Prints wall time per way, the ratio, and whether both ways give archives with identical file contents.
Needs the layer ``make package`` caches (build/cache/lambda-deps/*.zip).

Usage: .venv/bin/python benchmarks/bench_zipwriter.py [--archives 4] [--out benchmarks/results/zipwriter.txt]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

from pipeline.build.zipwriter import COMPRESS_LEVEL, read_entries, write_zip

ROOT = Path(__file__).resolve().parent.parent
EPOCH = (1980, 1, 1, 0, 0, 0)


def with_zipwriter(layer: Path, out: Path, archives: int) -> None:
    entries = read_entries(layer)  # compressed once, when the layer was cached
    for n in range(archives):
        write_zip(out / f"w{n}.zip", entries)


def with_zipfile(layer: Path, out: Path, archives: int) -> None:
    with zipfile.ZipFile(layer) as source:
        infos = source.infolist()
        for n in range(archives):
            with zipfile.ZipFile(out / f"z{n}.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as made:
                for info in infos:
                    fixed = zipfile.ZipInfo(info.filename, EPOCH)
                    fixed.external_attr = info.external_attr
                    fixed.compress_type = zipfile.ZIP_DEFLATED
                    made.writestr(fixed, source.read(info))


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archives", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "zipwriter.txt")
    args = parser.parse_args()
    layers = sorted((ROOT / "build" / "cache" / "lambda-deps").glob("*.zip"))
    if not layers:
        raise SystemExit("no cached dependency layer: run `make package` first")
    layer = layers[0]
    with zipfile.ZipFile(layer) as z:
        count, size = len(z.infolist()), sum(i.file_size for i in z.infolist())
    lines = [f"layer {layer.name[:16]}…: {count} files, {size / 2**20:.1f} MiB uncompressed; {args.archives} archives"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        timings = {}
        for name, way in (("zipwriter (deflate once, copy)", with_zipwriter), ("zipfile (recompress)", with_zipfile)):
            start = time.perf_counter()
            way(layer, out, args.archives)
            timings[name] = time.perf_counter() - start
            lines.append(f"{name:32} {timings[name]:7.2f} s")
        same = contents(out / "w0.zip") == contents(out / "z0.zip")
    mine, stdlib = timings.values()
    lines.append(f"ratio zipfile / zipwriter: {stdlib / mine:.1f}x; same file contents: {same}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
