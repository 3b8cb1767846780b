"""The sans-I/O chat protocol: names, line framing, commands and text rendering.

:func:`printable` and :func:`display_lines` are the one place that decides
how received text may be shown on a terminal (see ``triochat.protocol.text``).

Nothing in this package performs I/O or imports trio; it turns bytes into
events and events into bytes, with explicit size limits, and is tested on its
own.  The transports in ``triochat.transports`` drive it.
"""

from .commands import (
    Action as Action,
)
from .commands import (
    Ban as Ban,
)
from .commands import (
    Command as Command,
)
from .commands import (
    CommandError as CommandError,
)
from .commands import (
    Help as Help,
)
from .commands import (
    History as History,
)
from .commands import (
    JoinRoom as JoinRoom,
)
from .commands import (
    Kick as Kick,
)
from .commands import (
    ListRooms as ListRooms,
)
from .commands import (
    Mute as Mute,
)
from .commands import (
    Nick as Nick,
)
from .commands import (
    Part as Part,
)
from .commands import (
    PrivateMessage as PrivateMessage,
)
from .commands import (
    Quit as Quit,
)
from .commands import (
    Say as Say,
)
from .commands import (
    Topic as Topic,
)
from .commands import (
    Unban as Unban,
)
from .commands import (
    Unmute as Unmute,
)
from .commands import (
    Who as Who,
)
from .commands import (
    parse_command as parse_command,
)
from .lineparse import (
    ServerLineParser as ServerLineParser,
)
from .lineparse import (
    parse_server_line as parse_server_line,
)
from .lines import (
    InvalidUtf8 as InvalidUtf8,
)
from .lines import (
    Line as Line,
)
from .lines import (
    LineDecoder as LineDecoder,
)
from .lines import (
    LineEvent as LineEvent,
)
from .lines import (
    LineTooLong as LineTooLong,
)
from .lines import (
    encode_line as encode_line,
)
from .names import (
    MAX_NAME_LENGTH as MAX_NAME_LENGTH,
)
from .names import (
    name_problem as name_problem,
)
from .text import (
    CONTINUATION as CONTINUATION,
)
from .text import (
    display_lines as display_lines,
)
from .text import (
    printable as printable,
)

__all__ = [
    "CONTINUATION",
    "MAX_NAME_LENGTH",
    "Action",
    "Ban",
    "Kick",
    "Mute",
    "Topic",
    "Unban",
    "Unmute",
    "Command",
    "CommandError",
    "Help",
    "History",
    "InvalidUtf8",
    "JoinRoom",
    "Line",
    "LineDecoder",
    "LineEvent",
    "LineTooLong",
    "ListRooms",
    "Nick",
    "Part",
    "PrivateMessage",
    "Quit",
    "Say",
    "ServerLineParser",
    "Who",
    "display_lines",
    "encode_line",
    "name_problem",
    "parse_command",
    "parse_server_line",
    "printable",
]
