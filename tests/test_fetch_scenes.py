"""scripts/fetch_scenes.py on small Debian packages built here: checksums, links and the way files land."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import tarfile
from pathlib import Path

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("fetch_scenes", ROOT / "scripts" / "fetch_scenes.py")
fetch_scenes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_scenes)


def _ar_member(name: str, body: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode()
    return header + body + (b"\n" if len(body) % 2 else b"")


def build_deb(path: Path) -> Path:
    """A .deb as dpkg builds it: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        def add(name: str, body: bytes = b"", link: str | None = None) -> None:
            info = tarfile.TarInfo(name)
            if link is None:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)

        add("./usr/share/wallpapers/Leaf/contents/images/1920x1080.jpg", b"big picture")
        add("./usr/share/wallpapers/Leaf/contents/images/640x480.jpg", link="1920x1080.jpg")
        add("./usr/share/backgrounds/default.jpg", link="/usr/share/wallpapers/Leaf/contents/images/1920x1080.jpg")
        add("./usr/share/backgrounds/gone.png", link="/etc/nowhere.png")
        add("./usr/share/backgrounds/chain.jpg", link="default.jpg")  # a link to a link
        add("./etc/not-a-scene.conf", b"x")
    control = io.BytesIO()
    with tarfile.open(fileobj=control, mode="w:xz"):
        pass
    path.write_bytes(b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n") + _ar_member("control.tar.xz", control.getvalue())
                     + _ar_member("data.tar.xz", data.getvalue()))
    return path


def test_a_package_unpacks_its_scenes_with_links_as_copies(tmp_path):
    deb = build_deb(tmp_path / "walls_1.0_all.deb")
    out = tmp_path / "scenes"
    assert fetch_scenes.unpack(deb, out) == 4
    images = out / "usr/share/wallpapers/Leaf/contents/images"
    assert (images / "1920x1080.jpg").read_bytes() == (images / "640x480.jpg").read_bytes() == b"big picture"
    assert (out / "usr/share/backgrounds/default.jpg").read_bytes() == b"big picture"
    assert (out / "usr/share/backgrounds/chain.jpg").read_bytes() == b"big picture"
    assert not (out / "usr/share/backgrounds/gone.png").exists() and not (out / "etc").exists()
    assert not any(p.is_symlink() for p in out.rglob("*"))


def test_a_download_is_kept_only_when_its_checksum_matches(tmp_path, monkeypatch):
    pool = tmp_path / "pool"
    (pool / "w").mkdir(parents=True)
    deb = build_deb(pool / "w" / "walls_1.0_all.deb")
    right = hashlib.sha256(deb.read_bytes()).hexdigest()
    monkeypatch.setattr(fetch_scenes, "POOL", pool.as_uri())  # the registry, served from a folder
    debs = tmp_path / "debs"
    debs.mkdir()
    with pytest.raises(fetch_scenes.FetchError, match="SHA-256"):
        fetch_scenes.download("w/walls_1.0_all.deb", "0" * 64, debs)
    assert list(debs.iterdir()) == []  # nothing half-written or unchecked left behind
    got = fetch_scenes.download("w/walls_1.0_all.deb", right, debs)
    assert got.read_bytes() == deb.read_bytes()


def test_the_command_says_one_error_line_when_the_registry_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fetch_scenes, "POOL", (tmp_path / "empty").as_uri())
    assert fetch_scenes.main([str(tmp_path / "scenes")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: could not download")
    assert not (tmp_path / "scenes" / fetch_scenes.DONE).exists()
