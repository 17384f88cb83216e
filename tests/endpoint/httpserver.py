"""A threaded HTTP/1.1 server with real keep-alive, for the WSGI app.

werkzeug 3.1's development server sends `Connection: close` on every
response (its handler cannot drain a request body safely), so clients never
reuse connections. Our app always reads each request body completely
(server.py does so before anything else), which makes keep-alive safe: this
handler answers with Content-Length (or chunked), keeps the connection open
unless the client or the app asks to close, and lets the app drop a
connection on purpose (fault injection) by shutting the socket down.
"""
import socket

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

IDLE_TIMEOUT = 120          # seconds a kept-alive connection may sit idle


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def log_request(self, *args, **kwargs):
        pass                             # the app keeps its own request log

    def run_wsgi(self):
        environ = self.make_environ()
        state = {"status": None, "headers": None}

        def start_response(status, headers, exc_info=None):
            state["status"], state["headers"] = status, headers
            return lambda data: None     # write() is not used by our app

        try:
            body_iter = self.server.app(environ, start_response)
            try:
                self._send(environ, state, body_iter)
            finally:
                if hasattr(body_iter, "close"):
                    body_iter.close()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True
        if environ.get("amifs.close") or not environ.get("amifs.body_read"):
            self.close_connection = True

    def _send(self, environ, state, body_iter):
        code, _, msg = state["status"].partition(" ")
        code = int(code)
        headers = [(k, v) for k, v in state["headers"]
                   if k.lower() not in ("connection", "transfer-encoding")]
        names = {k.lower() for k, _ in headers}
        no_body = environ["REQUEST_METHOD"] == "HEAD" or code in (204, 304) \
            or 100 <= code < 200
        chunked = not no_body and "content-length" not in names
        self.send_response(code, msg)
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if environ.get("amifs.close") or not environ.get("amifs.body_read"):
            self.send_header("Connection", "close")
        self.end_headers()
        for data in body_iter:
            if no_body or not data:
                continue
            if chunked:
                self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                self.wfile.write(data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def make_server(host, port, app):
    """A ThreadedWSGIServer (one thread per connection) using the
    keep-alive handler; port 0 picks a free port (see .server_port)."""
    return ThreadedWSGIServer(host, port, app, handler=KeepAliveHandler)
