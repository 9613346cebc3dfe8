"""The one exception type ggcc raises for things a user can act on.

Every message is a single line that names the thing at fault and, where it
can, says what to do. The CLI prints it as ``ggcc: error: <message>`` and
exits non-zero; nothing else is printed (no traceback) because a traceback
for bad input is noise to the user.
"""


class GgccError(Exception):
    """A failure caused by input or environment, with a one-line message."""

    def __init__(self, message: str) -> None:
        # Keep it one line whatever the caller passed in.
        super().__init__(" ".join(message.split("\n")))

    @property
    def message(self) -> str:
        return str(self.args[0])
