"""User-facing errors.

Every problem a user can cause (bad input, bad options, an unwritable output) is raised as a
:class:`PoseMoEError` whose message is one line that names the file and the reason. The CLI
prints ``error: <message>`` to stderr and exits with a non-zero status; it never shows a
traceback for these.
"""


class PoseMoEError(Exception):
    """A clear, one-line, user-facing error (exit status 2 in the CLI)."""

    exit_code = 2


class ConversionCancelled(PoseMoEError):
    """The user interrupted a conversion (Ctrl-C or Cancel); nothing was written."""

    exit_code = 130


def run_main(main) -> None:
    """Run a module's ``main()`` as a command (``python -m ...``) and exit with its status.

    A :class:`PoseMoEError` ends with one ``error: ...`` line on stderr and its exit code,
    never a traceback (the same contract as ``python -m posemoe_blender``).
    """
    import sys
    try:
        code = main()
    except PoseMoEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    sys.exit(code)
