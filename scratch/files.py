"""Writing files so that a crash never leaves half of one: ``atomic_write`` and ``atomic_save``."""

import contextlib
import os
import tempfile

TEMPORARY_PREFIX = ".tmp-"  # the temporary files left beside their target while it is written


@contextlib.contextmanager
def _beside(path):
    """A temporary file's path beside ``path`` (same folder, same suffix), renamed over ``path`` at
    the end; on any error (Ctrl-C included) it is removed and ``path`` keeps its previous content."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX, suffix=os.path.basename(path))
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it over ``path``."""
    with _beside(path) as tmp, open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def atomic_save(path, save):
    """Call ``save(temporary_path)`` (a writer that takes a path, as Keras's ``model.save``), then
    rename the file over ``path``; the temporary path ends like ``path`` (``.keras``, ``.weights.h5``)."""
    with _beside(path) as tmp:
        save(tmp)
