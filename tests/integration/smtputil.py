"""A raw SMTP/LMTP client for protocol tests: exact bytes out, replies parsed
into (code, [lines]) so tests can check codes, enhanced codes and order."""
import socket
import ssl


class Smtp:
    def __init__(self, port, host="127.0.0.1", tls_ctx=None, timeout=30, path=None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One (possibly multi-line) reply: (code, [text of each line])."""
        lines = []
        while True:
            ln = self.line().decode("utf-8", "replace")
            assert len(ln) >= 3 and ln[:3].isdigit(), "bad reply line %r" % ln
            lines.append(ln[4:])
            if len(ln) == 3 or ln[3] == " ":
                return int(ln[:3]), lines
            assert ln[3] == "-", "bad reply line %r" % ln

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example", verb="EHLO"):
        code, lines = self.cmd("%s %s" % (verb, name))
        assert code == 250, (code, lines)
        return lines

    def starttls(self, ctx):
        code, _ = self.cmd("STARTTLS")
        assert code == 220
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def closed(self, timeout=10) -> bool:
        """True when the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def caps(lines):
    """EHLO reply lines after the greeting line, as {KEYWORD: args}."""
    out = {}
    for ln in lines[1:]:
        parts = ln.split(" ", 1)
        out[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
    return out
