"""Fetch the real scene photos `make model` trains on: the wallpapers of seven Debian packages, pinned.

    python scripts/fetch_scenes.py build/scenes

The default recipe puts its composites' notes on crops of real scenes and draws its no-note pictures from them
(BENCHMARKS.md, "The card's floor"). Debian's archive is a package registry, so the files are reproducible:
each package is pinned by version and SHA-256, downloaded once, checked, and only then unpacked (images and
their copyright files, under OUT/usr/share). Standard library only, so it also runs where dpkg does not.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import posixpath
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

POOL = "https://deb.debian.org/debian/pool/main"
PACKAGES = {  # pool path: SHA-256 (Debian 12 "bookworm")
    "m/mate-backgrounds/mate-backgrounds_1.26.0-1_all.deb":
        "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
    "g/gnome-backgrounds/gnome-backgrounds_43.1-1_all.deb":
        "a670dea21572652127d6e55f9cdb3a226d0037854fdbfd037003c7d00ee0dc4e",
    "p/plasma-workspace-wallpapers/plasma-workspace-wallpapers_5.27.5-2_all.deb":
        "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
    "u/ukui-wallpapers/ukui-wallpapers_20.04.3-1.1_all.deb":
        "6d49be70152e6d603163458e177e501deb0be8f2916389ccbfcf59b0d7fc0262",
    "l/lomiri-wallpapers/lomiri-wallpapers_20.04.0-2_all.deb":
        "6b75961132a2035f9c4db79f725a7290092619c5c8f672071c84cb5b10898e07",
    "l/lomiri-wallpapers/lomiri-wallpapers-16.04_20.04.0-2_all.deb":
        "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
    "l/lomiri-wallpapers/lomiri-wallpapers-20.04_20.04.0-2_all.deb":
        "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709",
}
DONE = ".complete"


class FetchError(Exception):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(pool_path: str, expected: str, folder: Path) -> Path:
    """The package file in ``folder``, downloaded unless a copy with the right checksum is there; never half-written."""
    dest = folder / Path(pool_path).name
    if dest.is_file() and sha256(dest) == expected:
        return dest
    url = f"{POOL}/{pool_path}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{dest.name}.")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while block := response.read(1 << 20):
                out.write(block)
                digest.update(block)  # checked as it arrives: no second read of ~100 MB
        got = digest.hexdigest()
        if got != expected:
            raise FetchError(f"{url} has SHA-256 {got}, expected {expected}: not unpacking it")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for the half-written file only
        os.replace(tmp, dest)
    except OSError as err:
        raise FetchError(f"could not download {url}: {err}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def data_tar(deb: Path) -> tarfile.TarFile:
    """The data.tar.* member of a .deb (an `ar` archive: 8-byte magic, then 60-byte headers)."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise FetchError(f"{deb} is not a Debian package")
    at = 8
    while at + 60 <= len(blob):
        name, size = blob[at:at + 16].decode().strip().rstrip("/"), int(blob[at + 48:at + 58].decode())
        body = blob[at + 60:at + 60 + size]
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        at += 60 + size + (size & 1)
    raise FetchError(f"{deb} has no data.tar member")


def _inside(name: str) -> str:
    """A member's path inside the package, without "./" or a leading "/" (links may be written either way)."""
    name = name[2:] if name.startswith("./") else name
    return posixpath.normpath(name).lstrip("/")


def _link_target(member: tarfile.TarInfo, members: dict[str, tarfile.TarInfo]) -> tarfile.TarInfo | None:
    """The regular file a member is or points to (following links to links), None when it leaves the package."""
    for _ in range(8):
        if member.isfile():
            return member
        if not (member.issym() or member.islnk()):
            return None
        base = "" if member.islnk() or member.linkname.startswith("/") else posixpath.dirname(_inside(member.name))
        member = members.get(_inside(posixpath.join(base, member.linkname)))
        if member is None:
            return None
    return None


def unpack(deb: Path, out: Path) -> int:
    """Files under usr/share into ``out``, a link as a copy of what it points to inside the package (wallpaper
    packages link one picture under several names, and the recipe was measured with every name)."""
    count = 0
    with data_tar(deb) as tar:
        members = {_inside(m.name): m for m in tar.getmembers()}
        for name, member in members.items():
            source = _link_target(member, members) if name.startswith("usr/share/") else None
            if source is None:
                continue  # a folder, something outside usr/share, or a link leaving the package
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(source) as src:
                target.write_bytes(src.read())
            count += 1
    return count


def fetch(out: Path) -> int:
    """Every package into ``out`` (kept in ``out/debs``); returns the files unpacked. Skips work already done."""
    if (out / DONE).is_file():
        return 0
    debs = out / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    total = 0
    for pool_path, expected in PACKAGES.items():
        deb = download(pool_path, expected, debs)
        files = unpack(deb, out)
        print(f"{deb.name}: {files} files", file=sys.stderr)
        total += files
    (out / DONE).write_text("\n".join(PACKAGES) + "\n")
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to unpack into (the scenes are under OUT/usr/share)")
    args = ap.parse_args(argv)
    try:
        total = fetch(args.out)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"scenes ready in {args.out / 'usr' / 'share'}" + (f" ({total} files)" if total else " (already there)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
