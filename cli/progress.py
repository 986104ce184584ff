"""The epoch's progress bar (tqdm's) and the summary line printed after it."""

import sys

from tqdm import tqdm


class _LogLines:
    """A stream for tqdm that turns its in-place redraws (``\\r`` + line) into whole lines, for log files."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self):
        self.stream.flush()


def progress_bar(total, label, stream=None, log_interval=10.0):
    """tqdm's bar over an epoch's ``total`` steps: step, percentage, elapsed, ETA, rate; the caller
    sets the running loss as its postfix.

    On a terminal the bar is redrawn in place and cleared when closed (the epoch's summary line
    takes its place). Redirected to a file, it writes one plain line every ``log_interval``
    seconds, the first after ``log_interval`` (a short epoch writes none).
    """
    stream = sys.stderr if stream is None else stream
    common = {"total": total, "desc": label, "unit": "step", "leave": False}
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(file=stream, dynamic_ncols=True, mininterval=0.1, **common)
    return tqdm(file=_LogLines(stream), ascii=True, ncols=100, mininterval=log_interval, maxinterval=float("inf"),
                delay=log_interval, **common)


def epoch_summary(epoch, epochs, logs):
    """``Epoch 2/3 - loss 0.1234 - accuracy 0.9650 - 11.8 s - 5085 images/s``."""
    text = (f"Epoch {epoch + 1}/{epochs} - loss {logs['loss']:.4f} - accuracy {logs['accuracy']:.4f}"
            f" - {logs['seconds']:.1f} s - {logs['images_per_s']:.0f} images/s")
    return text
