"""Running the command line in this process, for the CLI tests of ``tests/`` and ``parity_tests/``."""

import train


def run(argv, capsys):
    """``(exit status, stdout, stderr)`` of ``train.main(argv)`` in this process."""
    try:
        rc = train.main(argv)
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err
