"""A one-line progress bar with ETA for an epoch, and the summary line printed after it."""

import sys
import time


def _clock(seconds):
    seconds = max(0, int(round(seconds)))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """``[=====>    ] 120/1875 - 00:03 elapsed - ETA 00:41 - loss 0.3120`` on ``stream``.

    On a terminal the line is redrawn in place (at most every ``interval`` seconds); in a log
    file (not a tty) a line is written every ``log_interval`` seconds instead.
    """

    def __init__(self, total, label, stream=None, width=30, interval=0.1, log_interval=10.0):
        self.total, self.label, self.width = total, label, width
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else log_interval
        self.start = time.perf_counter()
        self.last = -float("inf") if self.tty else self.start  # a log gets its first line after log_interval
        self.drawn = False

    def line(self, done, loss=None):
        elapsed = time.perf_counter() - self.start
        filled = int(self.width * done / self.total) if self.total else self.width
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width and done else "=" * (filled > 0))
        eta = elapsed / done * (self.total - done) if done else 0.0
        text = (f"{self.label} [{bar.ljust(self.width)}] {done}/{self.total} - {_clock(elapsed)} elapsed"
                f" - ETA {_clock(eta)}")
        return text + (f" - loss {loss:.4f}" if loss is not None else "")

    def update(self, done, loss=None):
        now = time.perf_counter()
        if done < self.total and now - self.last < self.interval:
            return
        self.last = now
        if self.tty:
            self.stream.write("\r" + self.line(done, loss) + "\033[K")
        elif done < self.total:
            self.stream.write(self.line(done, loss) + "\n")
        self.drawn = True
        self.stream.flush()

    def close(self):
        """Clear the bar (the caller prints the epoch's summary line in its place)."""
        if self.tty and self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()


def epoch_summary(epoch, epochs, logs):
    """``Epoch 2/3 - loss 0.1234 - accuracy 0.9650 - 11.8 s - 5085 images/s``."""
    text = (f"Epoch {epoch + 1}/{epochs} - loss {logs['loss']:.4f} - accuracy {logs['accuracy']:.4f}"
            f" - {logs['seconds']:.1f} s - {logs['images_per_s']:.0f} images/s")
    return text
