"""A client for the REST API of a muster cluster (``/api/v1``), standard library only.

    import muster
    c = muster.Client("https://coord:8443", token="mst_...", ca_cert="ca.crt")
    job = c.submit("python3 train.py", gpus=1, workdir="/home/me/run")
    for line in c.logs(job, follow=True):
        print(line)
    print(c.wait(job)["state"])

Instead of a token, a client certificate made by `muster admin user cert NAME` may say who the
caller is: Client(url, client_cert="alice.crt", client_key="alice.key", ca_cert="ca.crt").

Without arguments, Client() reads MUSTER_URL, MUSTER_TOKEN, MUSTER_CA_CERT and, for a
certificate, MUSTER_CLIENT_CERT and MUSTER_CLIENT_KEY. Every call is
checked by the coordinator as the same CLI command would be; a refusal raises the MusterError
subclass of its kind (NotFound, PermissionDenied, ...) with the coordinator's message.
"""

import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "Client", "MusterError", "InvalidArgument", "Unauthenticated", "PermissionDenied",
    "NotFound", "Conflict", "Infeasible", "Unavailable", "TERMINAL_STATES",
]

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "timeout", "oom"})


class MusterError(Exception):
    """A call the coordinator refused or could not answer: .code ("not_found", ...), .status
    (the HTTP status, 0 when it was not reached) and the coordinator's message."""

    def __init__(self, code, message, status=0):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


class InvalidArgument(MusterError):
    pass


class Unauthenticated(MusterError):
    pass


class PermissionDenied(MusterError):
    pass


class NotFound(MusterError):
    pass


class Conflict(MusterError):
    """Not in a state for it (already ended, ...), or the name is taken."""


class Infeasible(MusterError):
    """Can never run on this cluster."""


class Unavailable(MusterError):
    """The coordinator (or its store) cannot be reached or is read-only."""


_BY_CODE = {
    "invalid_argument": InvalidArgument,
    "unauthenticated": Unauthenticated,
    "permission_denied": PermissionDenied,
    "not_found": NotFound,
    "failed_precondition": Conflict,
    "already_exists": Conflict,
    "infeasible": Infeasible,
    "unschedulable": Infeasible,
    "unavailable": Unavailable,
}


def _error(status, body):
    try:
        e = json.loads(body)["error"]
        code, message = e["code"], e["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "internal", "HTTP %d: %s" % (status, body[:200])
    return _BY_CODE.get(code, MusterError)(code, message, status)


class Client:
    def __init__(self, url=None, token=None, ca_cert=None, timeout=30.0, client_cert=None,
                 client_key=None):
        self.url = (url or os.environ.get("MUSTER_URL", "")).rstrip("/")
        if not self.url:
            raise InvalidArgument("invalid_argument",
                                  "no URL: give Client(url) or set MUSTER_URL (muster up "
                                  "--http prints it; STATE_DIR/coordinator.http holds it)")
        self.token = token if token is not None else os.environ.get("MUSTER_TOKEN", "")
        ca_cert = ca_cert or os.environ.get("MUSTER_CA_CERT") or None
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_cert) if self.url.startswith(
            "https:") else None
        client_cert = client_cert or os.environ.get("MUSTER_CLIENT_CERT") or None
        client_key = client_key or os.environ.get("MUSTER_CLIENT_KEY") or None
        if client_cert:
            if self._ssl is None:
                raise InvalidArgument("invalid_argument",
                                      "a client certificate needs an https:// URL")
            self._ssl.load_cert_chain(client_cert, client_key)

    # ---- jobs

    def submit(self, command, workdir=None, **fields):
        """Submits a job: `command` is a shell line or an argument list; `fields` are the keys of
        a YAML job file (gpus=1, time="2h", array="0-9", env={...}, ...). Returns its id."""
        spec = dict(fields)
        spec["command"] = command if isinstance(command, str) else list(command)
        spec["workdir"] = os.path.abspath(workdir or os.getcwd())
        return self._call("POST", "/api/v1/jobs", body=spec)["job_id"]

    def job(self, job_id):
        """The job with its tasks and history, as `muster show -o json`."""
        return self._call("GET", "/api/v1/jobs/%d" % int(job_id))

    def jobs(self, user=None, state=None, name=None, since=None, all=False, page=100):
        """Every job that matches (pending and running ones, finished ones too with all=True, a
        state or since), read page by page. `state` may be a list."""
        query = {"user": user, "name": name, "since": since, "limit": page,
                 "state": ",".join(state) if isinstance(state, (list, tuple, set)) else state,
                 "all": "1" if all else None}
        out, offset = [], 0
        while True:
            reply = self._call("GET", "/api/v1/jobs", query=dict(query, offset=offset))
            out.extend(reply["jobs"])
            if "next_offset" not in reply:
                return out
            offset = reply["next_offset"]

    def wait(self, job_id, timeout=None, poll=0.5):
        """Waits until the job has ended and returns it; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            j = self.job(job_id)
            if j["state"] in TERMINAL_STATES:
                return j
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("job %d is still %s after %ss" % (job_id, j["state"], timeout))
            time.sleep(poll)

    def cancel(self, job_id, task=None):
        """Cancels the job, or one task of an array."""
        query = {"task": task} if task is not None else None
        return self._call("DELETE", "/api/v1/jobs/%d" % int(job_id), query=query)

    def logs(self, job_id, task=None, stream="stdout", follow=False):
        """The job's output as text; with follow=True an iterator over its lines as they come,
        until the job's tasks have ended."""
        query = {"task": task, "stream": stream, "follow": "1" if follow else None}
        path = "/api/v1/jobs/%d/logs" % int(job_id)
        if not follow:
            return self._call("GET", path, query=query, raw=True)
        return self._events(path, query)

    # ---- the cluster

    def nodes(self):
        return self._call("GET", "/api/v1/nodes")["nodes"]

    def whoami(self):
        """Who the coordinator takes this client for: {"name", "role", "via", "peer"}."""
        return self._call("GET", "/api/v1/whoami")

    def schedule(self, all=False):
        return self._call("GET", "/api/v1/schedule", query={"all": "1" if all else None})["rows"]

    def balance(self):
        return self._call("GET", "/api/v1/balance")

    def acct(self, since=None, user=None, job=None):
        """Usage per job (GPU-hours, CPU-hours, peak memory, energy), as `muster acct -o json`."""
        return self._call("GET", "/api/v1/acct",
                          query={"since": since, "user": user, "job": job})["jobs"]

    # ---- transport

    def _request(self, method, path, query=None, body=None, timeout=-1):
        q = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.url + path + ("?" + urllib.parse.urlencode(q) if q else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(req, timeout=self.timeout if timeout == -1 else timeout,
                                          context=self._ssl)
        except urllib.error.HTTPError as e:
            raise _error(e.code, e.read().decode("utf-8", "replace")) from None
        except urllib.error.URLError as e:
            raise Unavailable("unavailable",
                              "cannot reach the coordinator at %s: %s" % (self.url, e.reason))

    def _call(self, method, path, query=None, body=None, raw=False):
        with self._request(method, path, query, body) as r:
            text = r.read().decode("utf-8", "replace")
        return text if raw else json.loads(text)

    def _events(self, path, query):
        # Server-Sent Events: "event: log" with the new lines as data, then one "eof"; a quiet
        # task may say nothing for long (comments keep the link alive): no read timeout.
        with self._request("GET", path, query, timeout=None) as r:
            event, data = None, []
            for raw in r:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data:"):
                    data.append(line[len("data: "):] if line.startswith("data: ") else "")
                elif line == "":
                    if event == "log":
                        for d in data:
                            yield d
                    elif event == "eof":
                        return
                    elif event == "error":
                        raise MusterError("internal", "\n".join(data))
                    event, data = None, []
