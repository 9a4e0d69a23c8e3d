"""Fetch the real photographs the accuracy benchmark builds its albums from.

No download outside the package registries: the photographs come from Debian
packages (``apt-get download``, unpacked with ``dpkg -x``, nothing installed).
Two corpora that share no photograph, so that thresholds calibrated on one are
checked on the other:

* ``A`` (calibration): GCompris' educational photos (animals, objects,
  monuments, landscapes; carved out of its Qt resource files), Scratch's
  backdrop photos, KPhotoAlbum's demo album, Palapeli's puzzle photos.
* ``B`` (held out): desktop wallpaper photographs of KDE Plasma, Lomiri and MATE.

Licences (per file in each package's ``/usr/share/doc/<pkg>/copyright``):
public domain, CC0, CC-BY, CC-BY-SA, GPL, LGPL. The photographs are fetched at
benchmark time and never committed to this repository.

    python benches/corpus.py DEST        # writes DEST/A/... and DEST/B/...
"""

from __future__ import annotations

import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import pyvips

CORPORA = {
    "A": {
        "gcompris-qt-data": [
            "usr/share/gcompris-qt/rcc/categorization.rcc",
            "usr/share/gcompris-qt/rcc/erase.rcc",
            "usr/share/gcompris-qt/rcc/explore_monuments.rcc",
            "usr/share/gcompris-qt/rcc/explore_world_animals.rcc",
            "usr/share/gcompris-qt/rcc/explore_farm_animals.rcc",
            "usr/share/gcompris-qt/rcc/details.rcc",
        ],
        "scratch": [
            "usr/share/scratch/Media/Backgrounds/Outdoors/*.jpg",
            "usr/share/scratch/Media/Backgrounds/Nature/*.jpg",
            "usr/share/scratch/Media/Backgrounds/Sports/*.jpg",
        ],
        "kphotoalbum": ["usr/share/kphotoalbum/demo/*.jpg"],
        "palapeli-data": ["usr/share/palapeli/collection/*.jpg"],
    },
    "B": {
        "plasma-workspace-wallpapers": ["usr/share/wallpapers/*/contents/images/*"],
        "lomiri-wallpapers-16.04": ["usr/share/backgrounds/*_by_*.jpg"],
        "lomiri-wallpapers-20.04": ["usr/share/backgrounds/*_by_*.jpg"],
        "mate-backgrounds": ["usr/share/backgrounds/mate/nature/*.jpg"],
    },
}
#: Files in those folders that are drawings or patterns, not photographs.
NOT_PHOTOS = ("analogpattern", "umang", "Fossa", "Infinite-Sea", "Painting-Colors")
MIN_SIDE = 240


def fetch(dest: str) -> dict[str, int]:
    """Download, unpack and collect both corpora under ``dest``; returns photos per corpus."""
    counts = {}
    with tempfile.TemporaryDirectory() as work:
        for corpus, packages in CORPORA.items():
            out = os.path.join(dest, corpus)
            os.makedirs(out, exist_ok=True)
            for package, patterns in packages.items():
                root = _unpack(package, work)
                for pattern in patterns:
                    for path in sorted(glob.glob(os.path.join(root, pattern))):
                        if any(word in path for word in NOT_PHOTOS):
                            continue
                        if path.endswith(".rcc"):
                            _carve(path, out, f"{package}-{os.path.basename(path)[:-4]}")
                        else:
                            _keep(path, out, package)
            counts[corpus] = len(os.listdir(out))
    _keep_largest_wallpapers(os.path.join(dest, "B"))
    counts["B"] = len(os.listdir(os.path.join(dest, "B")))
    return counts


def _unpack(package: str, work: str) -> str:
    subprocess.run(
        ["apt-get", "download", package], cwd=work, check=True, stdout=subprocess.DEVNULL
    )
    deb = sorted(glob.glob(os.path.join(work, f"{package}_*.deb")))[-1]
    root = os.path.join(work, package)
    subprocess.run(["dpkg", "-x", deb, root], check=True)
    return root


def _usable(data_or_path: bytes | str) -> bool:
    try:
        if isinstance(data_or_path, bytes):
            img = pyvips.Image.new_from_buffer(data_or_path, "")
        else:
            img = pyvips.Image.new_from_file(data_or_path)
        return min(img.width, img.height) >= MIN_SIDE
    except pyvips.Error:
        return False


def _keep(path: str, out: str, package: str) -> None:
    if _usable(path):
        rel = path.split("/usr/share/", 1)[-1].replace("/", "_")
        shutil.copyfile(path, os.path.join(out, f"{package}-{rel}"))


def _carve(path: str, out: str, prefix: str) -> None:
    """Images stored in a Qt resource file: a 4-byte big-endian length, then the bytes."""
    blob = open(path, "rb").read()
    n = 0
    for magic, ext in ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"RIFF", "webp")):
        at = blob.find(magic)
        while at != -1:
            if at >= 4:
                (size,) = struct.unpack(">I", blob[at - 4 : at])
                data = blob[at : at + size]
                if 0 < size < 50_000_000 and len(data) == size and _usable(data):
                    with open(os.path.join(out, f"{prefix}_{n:04d}.{ext}"), "wb") as fh:
                        fh.write(data)
                    n += 1
            at = blob.find(magic, at + 1)


def _keep_largest_wallpapers(folder: str) -> None:
    """Plasma ships each wallpaper at many sizes: keep the largest of each."""
    by_name: dict[str, list[str]] = {}
    for name in os.listdir(folder):
        if name.startswith("plasma-workspace-wallpapers-"):
            key = name.split("_contents_images_")[0]
            by_name.setdefault(key, []).append(os.path.join(folder, name))
    for paths in by_name.values():
        paths.sort(key=os.path.getsize)
        for p in paths[:-1]:
            os.remove(p)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(fetch(sys.argv[1]))
