import ssl
import sys

import trio

from triochat import open_chat_client, open_chat_server


def server_context(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


async def main(certfile: str, keyfile: str | None, cafile: str) -> None:
    tls = server_context(certfile, keyfile)
    async with open_chat_server("localhost", 0, tcp_port=0, ssl_context=tls) as server:
        # Connect by the name on the certificate ("localhost"), trusting our own CA.
        wss, tcps = server.ws_port, server.tcp_port
        for url in (f"wss://localhost:{wss}", f"tcps://localhost:{tcps}"):
            async with open_chat_client(url, name="alice", cafile=cafile) as alice:
                print(url.split(":")[0], "as", alice.name)


if __name__ == "__main__":
    certfile, keyfile, cafile = sys.argv[1:4]  # e.g. chain.pem key.pem ca.pem
    trio.run(main, certfile, keyfile, cafile)
