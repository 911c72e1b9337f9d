"""gunicorn's settings for CHS's web process (``gunicorn -c gunicorn.conf.py
chs_site.wsgi:application``), read from the environment so the Procfile, the Docker image
and the systemd unit share them.

The app is loaded once in the master and the workers are forked from it (``preload_app``):
``chs_site.wsgi`` freezes everything loaded at start-up out of the garbage collector's view,
so the workers share those pages with the master instead of each copying them on its first
full collection. Nothing at import time opens a database or Redis connection, so no socket
is shared across the fork."""

from __future__ import annotations

import os


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# BIND wins (e.g. unix:/run/chs/web.sock); else HOST:PORT (honcho sets PORT for the web).
bind = [os.environ.get("BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000)}"]
# gunicorn's rule of thumb for its workers: two per core, plus one; each with WEB_THREADS
# threads, so a slow page or a large ingest does not hold a whole process.
workers = _int("WEB_CONCURRENCY", 2 * _cores() + 1)
worker_class = "gthread"
threads = _int("WEB_THREADS", 4)
preload_app = True
# A request slower than this is stuck: the worker is replaced (and the request logged).
timeout = _int("WEB_TIMEOUT", 60)
# On SIGTERM (a deploy, systemd stop, docker stop) requests in flight get this long.
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# One line per request on stdout (or to the file ACCESS_LOG names; "" turns it off), with
# the time the server spent on it in µs; errors on stderr.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus "%(a)s"'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The process title names the app in ps and top.
proc_name = "chs-web"
# No runtime control socket (gunicorn 25+ opens one under $HOME by default): several
# instances on one machine would share its path, and a container's home may be read-only.
control_socket_disable = True
