#!/usr/bin/env python3
"""Serves a webroot on 127.0.0.1:PORT the way a production web server would for HTTP-01.

  python3 .ci/webroot-server.py ROOT PORT

`python3 -m http.server` listens with a backlog of 5: when a CA validates 20 names at
once (Pebble fetches each token from three perspectives, 60 connections), the rest of the
SYNs are dropped and retried a second later, which measures the web server, not the ACME
client. nginx and Apache listen with a backlog of 511; so does this one.
Used by .ci/bench (for acme --webroot and uacme alike) and by the integration tests.
"""
import functools
import http.server
import sys


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 511
    daemon_threads = True


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


root, port = sys.argv[1], int(sys.argv[2])
Server(("127.0.0.1", port), functools.partial(Handler, directory=root)).serve_forever()
