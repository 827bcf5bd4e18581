"""File ops of the channel server (read, write, tar_out, tar_in), bounded and typed.

Runs INSIDE the sandbox as part of the channel server (channel_transport.py sends
channel_procs.py, this file and channel_server.py as one program): standard library only,
Python >= 3.6 syntax.

Every file these ops touch may have been planted by the agent, so none of them may hang or
exhaust the server (one server answers every call of a sandbox; a stuck one would make every
later call an infrastructure error):
- opens are O_NONBLOCK (a FIFO never blocks the open) and the type is checked on the open
  descriptor (fstat): only regular files are read or written, never a FIFO, device or socket;
- sizes are checked before reading (st_size) and reads stop at the limit (a file that grows,
  or one in /proc whose st_size says 0, still cannot make a read unbounded);
- with a confinement root (the local backend passes its sandbox directory), a path inside it
  must still be inside it once symlinks are resolved: checked on the descriptor's own path
  (/proc/self/fd), so a symlink swapped in between check and open is caught too;
- tar_out walks the tree itself (no tarfile.add, which opens files blocking): regular files,
  directories and symlinks (stored as links, never followed); FIFOs, devices and sockets are left
  out; the archive's total size, headers included, is bounded.
Refusals raise Refused; the host turns them into an AgentFault (the agent's doing, not infra).
"""

import base64
import errno
import io
import os
import stat
import tarfile

READ_LIMIT = 64 * 1024 * 1024  # a read's default byte limit (the host normally sends its own)
TAR_LIMIT = 256 * 1024 * 1024  # an archive's default byte limit
_OPEN_FLAGS = os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
# errors that mean "the path is the agent's mess", not "our server is broken"
_AGENT_ERRNOS = (errno.ENXIO, errno.ELOOP, errno.EOPNOTSUPP, errno.ENODEV, errno.ETXTBSY, errno.EFBIG,
                 errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG)


class Refused(Exception):
    """A file the server will not read or write: not a regular file, too large, or out of bounds."""


def _kind(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def _inside(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


class FileOps:
    """read, write and tar ops of the server (relative paths are under the workdir)."""

    workdir = "/"
    confine = None  # a real path: paths inside it must resolve inside it

    def _path(self, p):
        return p if os.path.isabs(p) else os.path.join(self.workdir, p)

    def _confined(self, path):
        return self.confine is not None and _inside(os.path.abspath(path), self.confine)

    def _check_real(self, path, real):
        if self._confined(path) and not _inside(real, self.confine):
            raise Refused("%s leads out of the sandbox (to %s) through a symlink" % (path, real))

    def _fd_path(self, fd, path):
        try:
            return os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            return os.path.realpath(path)

    def _open(self, path, flags, mode=0o644):
        """An fd of a regular file at path, opened without blocking, its type and place checked."""
        if self._confined(path):  # before the open, so a write never creates a file outside
            self._check_real(path, os.path.realpath(path))
        try:
            fd = os.open(path, flags | _OPEN_FLAGS, mode)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            raise
        except OSError as e:
            if e.errno in _AGENT_ERRNOS:  # ENXIO: a FIFO with no reader, a socket; ELOOP: a link loop
                raise Refused("%s cannot be opened: %s" % (path, e.strerror))
            raise
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError("%s is a directory" % path)
            if not stat.S_ISREG(st.st_mode):
                raise Refused("%s is %s, not a regular file" % (path, _kind(st.st_mode)))
            self._check_real(path, self._fd_path(fd, path))
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    def op_read(self, req):
        path = self._path(req["path"])
        limit = int(req.get("max_bytes") or READ_LIMIT)
        fd, st = self._open(path, os.O_RDONLY)
        try:
            if st.st_size > limit:
                raise Refused("%s is %d bytes; the limit is %d" % (path, st.st_size, limit))
            chunks, left = [], limit + 1
            while left > 0:
                try:
                    chunk = os.read(fd, min(left, 1 << 20))
                except OSError as e:
                    raise Refused("%s cannot be read: %s" % (path, e.strerror))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if len(data) > limit:
            raise Refused("%s grew past the limit of %d bytes while being read" % (path, limit))
        return {"data": base64.b64encode(data).decode("ascii")}

    def op_write(self, req):
        path = self._path(req["path"])
        parent = os.path.dirname(path)
        if parent:
            if self._confined(parent):
                self._check_real(parent, os.path.realpath(parent))
            os.makedirs(parent, exist_ok=True)
        data = base64.b64decode(req["data"])
        # no O_TRUNC in the open: nothing is changed before the fd is known to be a regular file
        fd, _ = self._open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view):]
                except OSError as e:
                    if e.errno in _AGENT_ERRNOS:  # a full disk or a file size limit the agent hit
                        raise Refused("%s cannot be written: %s" % (path, e.strerror))
                    raise
            os.fchmod(fd, int(req.get("mode", 0o644)))
        finally:
            os.close(fd)
        return {}

    def op_tar_out(self, req):
        path = self._path(req["path"])
        limit = int(req.get("max_bytes") or TAR_LIMIT)
        if not os.path.lexists(path):
            raise FileNotFoundError(path)
        if self._confined(path):
            self._check_real(path, os.path.realpath(path))
        mode = os.lstat(path).st_mode
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise Refused("%s is %s, not a regular file or directory" % (path, _kind(mode)))
        buf = io.BytesIO()
        state = {"total": 0, "skipped": 0}

        def charge(n):
            state["total"] += 512 + (n + 511) // 512 * 512  # header + padded data, as tar writes it
            if state["total"] > limit:
                raise Refused("%s holds more than %d bytes (archive limit)" % (path, limit))

        with tarfile.open(fileobj=buf, mode="w") as tar:
            todo = [(path, os.path.basename(path.rstrip("/")) or ".")]
            while todo:
                p, arc = todo.pop()
                try:
                    st = os.lstat(p)
                except FileNotFoundError:  # removed while we walk: it is simply not there
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                    charge(0)
                    tar.addfile(tar.gettarinfo(p, arc))
                    if stat.S_ISDIR(st.st_mode):
                        try:
                            names = sorted(os.listdir(p), reverse=True)
                        except OSError:
                            names = []
                        todo.extend((os.path.join(p, n), arc + "/" + n) for n in names)
                elif stat.S_ISREG(st.st_mode):
                    self._add_regular(tar, p, arc, charge, state)
                else:
                    state["skipped"] += 1  # FIFO, device, socket: never opened, never archived
        return {"data": base64.b64encode(buf.getvalue()).decode("ascii"), "skipped": state["skipped"]}

    def _add_regular(self, tar, p, arc, charge, state):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | _OPEN_FLAGS)
        except OSError:
            state["skipped"] += 1  # swapped for a link, a FIFO without a writer, gone: left out
            return
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                state["skipped"] += 1
                return
            charge(st.st_size)
            info = tar.gettarinfo(arcname=arc, fileobj=f)
            try:
                tar.addfile(info, f)
            except OSError as e:  # it shrank while we read it
                raise Refused("%s changed while it was archived: %s" % (p, e))

    def op_tar_in(self, req):
        path = self._path(req["path"])
        os.makedirs(path, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(req["data"])), mode="r") as tar:
            # the sandbox's own files going back into it: trusted (absolute symlinks are normal)
            if hasattr(tarfile, "fully_trusted_filter"):
                tar.extractall(path, filter="fully_trusted")
            else:
                tar.extractall(path)
        return {}
