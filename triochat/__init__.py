"""triochat: a structured-concurrency group chat toolkit for Trio.

The public API lives here; everything in underscore modules is private.
"""

from ._broadcaster import (
    HandlerContext as HandlerContext,
)
from ._broadcaster import (
    MessageHandler as MessageHandler,
)
from ._broadcaster import (
    Middleware as Middleware,
)
from ._client import (
    ChatClient as ChatClient,
)
from ._client import (
    ChatClientError as ChatClientError,
)
from ._client import (
    ConnectionLost as ConnectionLost,
)
from ._client import (
    LoginRefused as LoginRefused,
)
from ._client import (
    TLSError as TLSError,
)
from ._client import (
    open_chat_client as open_chat_client,
)
from ._config import ServerConfig as ServerConfig
from ._ratelimit import RateLimit as RateLimit
from ._server import (
    ChatServer as ChatServer,
)
from ._server import (
    Listener as Listener,
)
from ._server import (
    ServerStatistics as ServerStatistics,
)
from ._server import (
    open_chat_server as open_chat_server,
)
from ._version import __version__ as __version__
from .protocol.events import ChatMessage as ChatMessage

__all__ = [
    "ChatClient",
    "ChatClientError",
    "ConnectionLost",
    "LoginRefused",
    "TLSError",
    "open_chat_client",
    "ChatMessage",
    "ChatServer",
    "HandlerContext",
    "Listener",
    "MessageHandler",
    "Middleware",
    "RateLimit",
    "ServerConfig",
    "ServerStatistics",
    "__version__",
    "open_chat_server",
]
