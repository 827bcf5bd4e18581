"""The root image every agentgym image builds on: pulled when a registry answers, else debootstrapped.

Our machines reach no registry but do reach a Debian mirror, so `debootstrap --variant=minbase`
plus `docker import` makes the same Debian a `FROM debian:bookworm-slim` would give. The tarball
is cached so that a pruned engine gets its rootfs back in seconds instead of minutes.
"""

from __future__ import annotations

import io
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from agentgym.images.core import (
    IMPORT_TIMEOUT,
    LABEL,
    LABEL_NAME,
    ROOTFS,
    ImageError,
    Progress,
    Reporter,
    cache_dir,
    client,
    file_lock,
    image_exists,
    pull,
    split_ref,
)

SUITE = "bookworm"
VARIANT = "minbase"
SLIM = "debian:bookworm-slim"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_TIMEOUT = 1800.0
SOURCES_LIST = Path("/etc/apt/sources.list")
SOURCES_DIR = Path("/etc/apt/sources.list.d")

# A Debian archive (not -security, -debug, ports): .../debian, or a snapshot of one.
_ARCHIVE_URI = re.compile(r"^https?://[^\s]+?/debian/?$|^https?://[^\s]+/archive/debian/\d{8}T\d{6}Z/?$")


def host_arch() -> str:
    try:
        out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386"}.get(machine, machine)


def rootfs_tarball(arch: str | None = None) -> Path:
    """Where the bootstrapped rootfs tarball is cached (AGENTGYM_CACHE, else ~/.cache/agentgym)."""
    return cache_dir() / "rootfs" / f"debian-{SUITE}-{VARIANT}-{arch or host_arch()}.tar"


def _uris_in(path: Path) -> list[str]:
    """deb URIs of one apt sources file, one-line (.list) or deb822 (.sources) format, in order."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    uris: list[str] = []
    if path.suffix == ".sources":
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            uris.extend(fields.get("uris", "").split())
    else:
        for line in text.splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # drop [arch=..] options
            if len(words) >= 3 and words[0] == "deb":
                uris.append(words[1])
    return uris


def detect_mirror(sources: list[Path] | None = None) -> str:
    """AGENTGYM_DEBIAN_MIRROR, else the host apt's first Debian archive URI, else deb.debian.org."""
    override = os.environ.get("AGENTGYM_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    if sources is None:
        # apt's own order: sources.list, then sources.list.d/ sorted; other suffixes are disabled files.
        extra = (
            sorted(p for p in SOURCES_DIR.glob("*") if p.suffix in (".list", ".sources"))
            if SOURCES_DIR.is_dir()
            else []
        )
        sources = [SOURCES_LIST, *extra]
    for path in sources:
        for uri in _uris_in(path):
            if _ARCHIVE_URI.match(uri):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def ensure_rootfs(progress: Progress = None, *, tag: str = ROOTFS, pull_timeout: float = 15.0) -> str:
    """Return tag, making it first if needed: an existing image wins, then a pull, then debootstrap."""
    if image_exists(tag):
        return tag
    rep = Reporter.of(progress)
    with file_lock(f"rootfs-{tag}", timeout=DEBOOTSTRAP_TIMEOUT + IMPORT_TIMEOUT):
        if image_exists(tag):  # another process made it while we waited
            return tag
        if image_exists(SLIM) or pull(SLIM, timeout=pull_timeout):
            rep.info(f"rootfs: using {SLIM} as {tag}")
            _relabel(SLIM, tag)
            return tag
        rep.info(f"rootfs: no registry answered; making {tag} from debootstrap (or its cached tarball)")
        return _bootstrap_locked(tag, rep, mirror=None, use_cache=True)


def bootstrap_rootfs(
    tag: str = ROOTFS, progress: Progress = None, *, mirror: str | None = None, use_cache: bool = True
) -> str:
    """Make tag from a debootstrapped Debian (or the cached tarball of one), replacing any image at tag."""
    with file_lock(f"rootfs-{tag}", timeout=DEBOOTSTRAP_TIMEOUT + IMPORT_TIMEOUT):
        return _bootstrap_locked(tag, Reporter.of(progress), mirror=mirror, use_cache=use_cache)


def _bootstrap_locked(tag: str, rep: Reporter, *, mirror: str | None, use_cache: bool) -> str:
    tarball = rootfs_tarball()
    # One tarball serves every tag: without its own lock, two tags made at once would debootstrap
    # twice and write (or drop, when damaged) the same file together.
    with file_lock(f"rootfs-tarball-{tarball.name}", timeout=2 * (DEBOOTSTRAP_TIMEOUT + IMPORT_TIMEOUT)):
        if use_cache and tarball.is_file():
            try:
                return import_rootfs(tarball, tag, rep)
            except ImageError as exc:
                # A damaged cache must not wedge every future run: drop it and bootstrap afresh.
                rep.info(f"rootfs: cached {tarball} did not import ({exc}); bootstrapping again")
                tarball.unlink(missing_ok=True)
        make_rootfs_tarball(tarball, mirror or detect_mirror(), rep)
        return import_rootfs(tarball, tag, rep)


def _relabel(source: str, tag: str) -> None:
    # A pulled image cannot be relabelled in place; a LABEL-only build adds no layer and takes a second.
    repo, name_tag = split_ref(tag)
    dockerfile = f"FROM {source}\nLABEL {LABEL}=1 {LABEL_NAME}={repo.split('/')[-1]}\n".encode()
    api = client(IMPORT_TIMEOUT).api
    error = None
    for chunk in api.build(
        fileobj=io.BytesIO(dockerfile),
        tag=f"{repo}:{name_tag}",
        rm=True,
        decode=True,
        pull=False,
        timeout=IMPORT_TIMEOUT,
    ):
        error = error or chunk.get("error")
    if error or not image_exists(tag):
        raise ImageError(f"could not tag {source} as {tag}: {error}; remove {source} and retry to bootstrap instead")


def _ensure_debootstrap(rep: Reporter) -> str:
    if os.geteuid() != 0:
        raise ImageError(
            "bootstrapping a rootfs needs root (debootstrap makes device nodes): "
            "run as root, or load debian:bookworm-slim into Docker"
        )
    found = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.path.exists(p)), None
    )
    if found:
        return found
    rep.info("rootfs: installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise ImageError(f"`{' '.join(cmd)}` failed: {done.stderr[-2000:]}; install debootstrap by hand and retry")
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(found):
        raise ImageError("apt-get installed debootstrap but it is not on PATH; add /usr/sbin to PATH")
    return found


def make_rootfs_tarball(tarball: Path, mirror: str, rep: Reporter, *, timeout: float = DEBOOTSTRAP_TIMEOUT) -> Path:
    """debootstrap into a temporary folder next to the cache, tar it into tarball (atomically).

    Callers that may run at once hold the tarball's lock (_bootstrap_locked); even without it, each
    build works in its own folder, so the worst case is two finished tarballs, the last one kept.
    """
    debootstrap = _ensure_debootstrap(rep)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bootstrap-", dir=tarball.parent))
    target = work / "root"
    cmd = [debootstrap, f"--variant={VARIANT}", f"--arch={host_arch()}"]
    if mirror.startswith("https:"):
        cmd.append("--include=ca-certificates")  # apt in the image must verify the https mirror
    cmd += [SUITE, str(target), mirror]
    try:
        started = time.monotonic()
        _run_logged(cmd, rep, timeout=timeout, what="debootstrap")
        rep.info(f"rootfs: debootstrap took {time.monotonic() - started:.0f} s")
        _slim_down(target)
        partial = work / "rootfs.tar"  # private to this build; one rename publishes it
        done = subprocess.run(
            ["tar", "--numeric-owner", "-C", str(target), "-cf", str(partial), "."],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise ImageError(f"tar of the rootfs failed: {done.stderr[-2000:]}; check free space in {tarball.parent}")
        partial.replace(tarball)
    finally:
        _remove_tree(work)
    return tarball


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_logged(cmd: list[str], rep: Reporter, *, timeout: float, what: str) -> list[str]:
    tail: list[str] = []
    with rep.status(f"{what} (a few minutes)"):
        # Its own session, so a timeout or Ctrl-C kills debootstrap and every child it started.
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        timer = threading.Timer(timeout, _kill_group, (proc,))  # a stalled mirror must not hang us
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail = (tail + [line.rstrip()])[-30:]
                rep.log(line)
            proc.wait()
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        finally:
            timer.cancel()
    if proc.returncode != 0:
        log = "\n".join(tail)
        why = f"killed after {timeout:.0f} s" if proc.returncode == -signal.SIGKILL else f"exit {proc.returncode}"
        raise ImageError(
            f"{' '.join(cmd)} failed ({why}); last lines:\n{log}\n"
            "check that the mirror answers (set AGENTGYM_DEBIAN_MIRROR to one that does) and retry"
        )
    return tail


def _slim_down(target: Path) -> None:
    # debootstrap leaves its .debs and ~50 MB of package lists that every Dockerfile's
    # `apt-get update` replaces anyway; the host's resolver and hostname do not belong in an
    # image (Docker mounts its own at run time).
    for junk in [*(target / "var/cache/apt/archives").glob("*.deb"), *(target / "var/lib/apt/lists").glob("*_*")]:
        if junk.is_file():
            junk.unlink()
    for name in ("etc/resolv.conf", "etc/hostname"):
        path = target / name
        if path.is_file() and not path.is_symlink():
            path.write_text("")


def _mounts_under(root: Path) -> list[str]:
    found = []
    prefix = str(root.resolve())
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].encode().decode("unicode_escape")  # \040 for spaces, etc.
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _remove_tree(root: Path) -> None:
    # A killed debootstrap leaves /proc (and maybe /sys) mounted in the target: unmount first, and
    # never rmtree through a live mount.
    for point in _mounts_under(root):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=60)
    left = _mounts_under(root)
    if left:
        raise ImageError(f"could not unmount {left}; unmount them by hand, then delete {root}")
    shutil.rmtree(root, ignore_errors=True)


def import_rootfs(tarball: Path, tag: str, rep: Reporter) -> str:
    repo, name_tag = split_ref(tag)
    changes = ['CMD ["/bin/bash"]', f"LABEL {LABEL}=1", f"LABEL {LABEL_NAME}={repo.split('/')[-1]}"]
    rep.info(f"rootfs: importing {tarball} as {tag}")
    api = client(IMPORT_TIMEOUT).api
    try:
        # A file object, not a path: the SDK posts paths with no timeout at all.
        with open(tarball, "rb") as handle:
            api.import_image(src=handle, repository=repo, tag=name_tag, changes=changes)
    except Exception as exc:  # docker, requests and OS errors all mean the same here
        raise ImageError(f"docker import of {tarball} failed: {exc}") from exc
    if not image_exists(tag):
        raise ImageError(f"docker import of {tarball} reported success but {tag} does not exist")
    return tag
