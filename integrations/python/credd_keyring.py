"""credd's keyring backend: pip, uv, twine, Poetry (any user of the `keyring` package) get
credentials from the unlocked credd agent, over the agent's socket, with nothing written to disk.

Select it with PYTHON_KEYRING_BACKEND=credd_keyring.CreddKeyring and this file's directory on
PYTHONPATH (`credd setup poetry` writes a `poetry` wrapper that does both). It uses only the
standard library and `keyring` itself.

A credential is keyed by the pair (service, username); the service is any string: an index URL,
`host[:port]`, or a name such as `my-app`. What it answers:
- get_password(SERVICE, USER), get_credential(SERVICE, USER): the credential the agent selects for
  that service and user, by the agent's one rule (protocol README, `get`): the entry stored for
  that very service string, else the entry whose URL serves it with the longest path, else for
  `host[:port]` the entry on that host with the shortest path. USER None: any user; several users
  serving it equally is a KeyringError that names them, never a guess.
- set_password(SERVICE, USER, PASSWORD): stores the pair; a second user of one service is a second
  credential. delete_password(SERVICE, USER): removes what get_password would answer.
- Poetry's names, as Poetry uses them: "poetry-repository-NAME" is the entry named NAME (its URL
  read from Poetry's config when it is stored), Poetry's placeholder username gets None so that
  Poetry goes on to ask by URL, and the availability probe "python-poetry-check" gets None without
  asking the agent.

Publishing: inside `twine upload` and `poetry publish` the lookups ask for the service's publish
credential (`credd add --publish`), else its one credential. The agent hands a publish credential
out only with the credd passphrase, which this backend then asks for on the terminal (/dev/tty, no
echo) at a prompt naming the command; without a terminal it fails at once with the agent's words
on how to go on. A passphrase typed here lives in this Python process until it exits (Python
strings cannot be wiped).

It never raises anything but keyring's KeyringError (KeyringLocked when credd is locked): pip
turns keyring off for the whole run after any other exception. No socket operation waits longer
than 2 seconds (5 for writes), so a wedged agent cannot hang the tool.
"""

import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import termios
import threading
import time

from keyring import backend, credentials, errors

try:  # Python 3.11+; without it the URL of a new entry cannot be read from Poetry's files.
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

PROBE_SERVICE = "python-poetry-check"
REPOSITORY_PREFIX = "poetry-repository-"
EMPTY_USERNAME = "__poetry_source_empty_username__"
TOKEN_USERNAME = "__token__"
PYPI_UPLOAD_URL = "https://upload.pypi.org/legacy/"
# How long a status request may take: the agent answers from memory. A lookup may wait on a
# token mint, which the agent bounds by mint-timeout (at most 30 s) and a margin: it gets the Rust
# clients' LOOKUP_TIMEOUT. Writes (set_password, delete_password) may wait on the OS keychain,
# which the agent bounds by 3 s, so they get the Rust clients' REQUEST_TIMEOUT. src/client.rs
# pins these against the Rust constants.
TIMEOUT = 2.0
LOOKUP_TIMEOUT = 35.0
WRITE_TIMEOUT = 5.0
# A request carrying a step-up passphrase waits for a key derivation and maybe the back-off:
# the Rust clients' KDF_TIMEOUT. And how long the step-up prompt waits for a person.
STEP_UP_TIMEOUT = 60.0
TYPING_WAIT = 60.0
# The commands that publish, by program name: the word after the program that publishes.
PUBLISHING = {"twine": "upload", "poetry": "publish"}
MAX_LINE = 65536
LOCKED = "credd is locked: run 'credd unlock'"
NOT_RUNNING = "credd agent is not running: run 'credd unlock' (it starts the agent)"
UNEXPECTED = "the credd agent sent an unexpected reply: try again"
UNTRUSTED = (
    "refusing to talk to the credd agent at %s: %s. Another user may have created it to catch "
    "your secrets; nothing was sent. Remove it (or ask an administrator to), or choose a private "
    "socket with CREDD_SOCKET"
)
RUN_USER = "/run/user/%d"


class AgentError(errors.KeyringError):
    """The agent answered with an error: `kind` is its machine-readable kind."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def socket_path():
    """The agent's socket, by the CLI's rules (src/paths.rs): CREDD_SOCKET, else
    $XDG_RUNTIME_DIR/credd/credd.sock, else the same under /run/user/$UID when that is this
    user's private directory, else ${TMPDIR:-/tmp}/credd-$UID/credd.sock."""
    explicit = os.environ.get("CREDD_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime and directory_problem(RUN_USER % os.getuid()) is None:
        runtime = RUN_USER % os.getuid()
    if runtime:
        return os.path.join(runtime, "credd", "credd.sock")
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, "credd-%d" % os.getuid(), "credd.sock")


def directory_problem(directory):
    """Why `directory` is not private to this user, or None; the rule of src/private_dir.rs:
    a directory (not a link), owned by this user, closed to group and others. Raises OSError
    when it cannot be looked at."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return "it does not exist"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.geteuid():
        return "it is owned by uid %d, not by you (uid %d)" % (st.st_uid, os.geteuid())
    if st.st_mode & 0o077:
        return "its mode %o lets other users in" % (st.st_mode & 0o777)
    return None


def _untrusted(path, reason):
    return errors.KeyringError(UNTRUSTED % (path, reason))


def _check_socket_directory(path):
    """Refuses a socket whose directory another user could have prepared; a missing one means
    no agent runs there."""
    directory = os.path.dirname(path) or "."
    if not os.path.lexists(directory):
        raise errors.KeyringError(NOT_RUNNING)
    problem = directory_problem(directory)
    if problem is not None:
        raise _untrusted(path, "its directory %s: %s" % (directory, problem))


def _check_listener(sock, path):
    """Refuses a listener that runs as another user, before a byte is sent."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.geteuid():
        raise _untrusted(path, "it is served by uid %d, not by you (uid %d)" % (uid, os.geteuid()))


class Connection:
    """One connection to the agent, speaking protocol v1: one JSON object per line."""

    def __init__(self, path=None):
        path = path or socket_path()
        self._path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(TIMEOUT)
        self._buffer = b""
        self._next_id = 1
        try:
            _check_socket_directory(path)
            self._sock.connect(path)
            _check_listener(self._sock, path)
        except errors.KeyringError:
            self.close()
            raise
        except (FileNotFoundError, ConnectionRefusedError):
            self.close()
            raise errors.KeyringError(NOT_RUNNING) from None
        except socket.timeout:
            self.close()
            raise errors.KeyringError(_timed_out()) from None
        except OSError as error:
            self.close()
            raise errors.KeyringError(
                "cannot reach the credd agent at %s (%s): check it with 'credd status'"
                % (path, error.strerror or type(error).__name__)
            ) from None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def close(self):
        """Closes the connection."""
        self._sock.close()

    def call(self, op, _timeout=TIMEOUT, **fields):
        """Sends one request and returns the `ok` object of its reply; raises AgentError for an
        error reply and KeyringError when the agent does not answer within `_timeout` s."""
        request_id = self._next_id
        self._next_id += 1
        request = dict(fields, v=1, id=request_id, op=op)
        line = json.dumps(request, separators=(",", ":")).encode("utf-8") + b"\n"
        if len(line) > MAX_LINE + 1:
            raise errors.KeyringError("the request is too large for the credd agent")
        deadline = time.monotonic() + _timeout
        try:
            self._sock.settimeout(_timeout)
            self._sock.sendall(line)
            reply = json.loads(self._read_line(deadline).decode("utf-8"))
        except socket.timeout:
            raise errors.KeyringError(_timed_out(_timeout)) from None
        except (OSError, ValueError) as error:
            # Never the error's text: a decoding error could quote part of a secret.
            raise errors.KeyringError(
                "lost the connection to the credd agent (%s): try again" % type(error).__name__
            ) from None
        if not isinstance(reply, dict) or reply.get("id") not in (request_id, None):
            raise errors.KeyringError(UNEXPECTED)
        error = reply.get("error")
        if isinstance(error, dict):
            kind = error.get("kind")
            if kind == "locked":
                raise errors.KeyringLocked(LOCKED)
            raise AgentError(kind, "credd: %s" % error.get("message", kind))
        ok = reply.get("ok")
        if not isinstance(ok, dict):
            raise errors.KeyringError(UNEXPECTED)
        return ok

    def _read_line(self, deadline):
        """One reply line, at most MAX_LINE bytes, within the deadline."""
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise errors.KeyringError("the credd agent sent a reply line that is too long")
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self._sock.settimeout(left)
            chunk = self._sock.recv(MAX_LINE + 1)
            if not chunk:
                raise ConnectionResetError()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        if len(line) > MAX_LINE:
            raise errors.KeyringError("the credd agent sent a reply line that is too long")
        return line

    def get(self, **query):
        """The entry that `name=`, or `url=` (with `username=`), selects; None when none does."""
        try:
            entry = self.call("get", _timeout=LOOKUP_TIMEOUT, **query).get("entry")
        except AgentError as error:
            if error.kind == "not-found":
                return None
            raise
        return _checked_entry(entry, "secret")

    def lookup(self, **query):
        """`get` for a tool's lookup, naming the keyring front. Inside a publishing command a
        `url` query asks for the publish credential, with the step-up on the terminal when the
        agent wants one (a publish credential asked for by name wants one too)."""
        publishing = _publishing()
        if publishing and "url" in query:
            query = dict(query, publish=True)
        query = dict(query, front="keyring", operation=publishing or "get")
        kept = _stepped_up(query)
        if kept is not None:
            return kept
        try:
            entry = self.call("get", _timeout=LOOKUP_TIMEOUT, **query).get("entry")
        except AgentError as error:
            if error.kind == "not-found":
                return None
            if error.kind != "step-up-required":
                raise
            entry = _checked_entry(self._step_up(query, publishing, error), "secret")
            _STEPPED_UP.append((query.get("url") or ("name", query.get("name")), entry))
        return _checked_entry(entry, "secret")

    def _step_up(self, query, what, refused):
        """The entry after the step-up: the passphrase asked on the terminal, sent with `query`."""
        grace = self.call("status").get("step_up_grace")
        passphrase = _ask_passphrase(_step_up_prompt(what or "credd keyring", grace), refused)
        # A person may have typed for longer than the agent waits on an idle connection (its
        # read-timeout), which it has then closed: the passphrase goes on a fresh one.
        with Connection(self._path) as fresh:
            reply = fresh.call("get", _timeout=STEP_UP_TIMEOUT, passphrase=passphrase, **query)
        return reply.get("entry")


# What a step-up let through in this process: twine asks once for the username and again for the
# password, and the person types the passphrase once. The command holds the secret anyway.
_STEPPED_UP = []


def _stepped_up(query):
    """The entry an earlier step-up of this process got for `query`'s service, if any."""
    key = query.get("url") or ("name", query.get("name"))
    for service, entry in _STEPPED_UP:
        if service == key and username_matches(entry, query.get("username")):
            return entry
    return None


def _publishing():
    """`twine upload` or `poetry publish` when this process is that command, else None."""
    if not sys.argv:
        return None
    program = os.path.basename(sys.argv[0])
    if program == "__main__.py":  # python -m twine
        program = os.path.basename(os.path.dirname(sys.argv[0]))
    word = PUBLISHING.get(program)
    if word and word in sys.argv[1:]:
        return "%s %s" % (program, word)
    return None


def _step_up_prompt(what, grace):
    """The step-up prompt, naming the grace window (seconds) the agent then opens, if any; the
    words of src/step_up.rs."""
    if not isinstance(grace, int) or grace <= 0:
        return "%s: enter the credd passphrase to allow: " % what
    words = "%d min" % (grace // 60) if grace % 60 == 0 else "%d s" % grace
    return "%s: enter the credd passphrase to allow (then allowed for %s for this terminal): " % (
        what,
        words,
    )


def _ask_passphrase(prompt, refused):
    """The passphrase typed at `prompt` on /dev/tty with echo off, within TYPING_WAIT; a
    KeyringError with the agent's message when there is no terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise errors.KeyringError(
            "%s There is no terminal here to ask on." % refused.args[0]
        ) from None
    try:
        old = termios.tcgetattr(fd)
        quiet = list(old)
        quiet[3] &= ~termios.ECHO
        quiet[3] |= termios.ECHONL
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        previous = _prompt_signals(fd, old, quiet)
        try:
            os.write(fd, prompt.encode("utf-8"))
            typed = b""
            deadline = time.monotonic() + TYPING_WAIT
            while not typed.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise errors.KeyringError("credd: no passphrase was typed in time")
                chunk = os.read(fd, 1024)
                if not chunk:
                    break
                typed += chunk
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            termios.tcsetattr(fd, termios.TCSAFLUSH, old)
    finally:
        os.close(fd)
    return typed.decode("utf-8", "replace").rstrip("\r\n")


def _prompt_signals(fd, old, quiet):
    """Keeps echo off on `fd` across Ctrl-Z and fg (the shell gives a resumed job the terminal
    with echo on), and puts it back before SIGTERM or SIGHUP ends the process, as
    readpassphrase(3) does; SIGINT raises KeyboardInterrupt, which the caller's `finally` meets.
    Only signals the program left at their default are taken, and only in the main thread, where
    Python runs handlers. Returns the handlers to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def ending(signum, _frame):
        termios.tcsetattr(fd, termios.TCSANOW, old)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def stopping(signum, _frame):
        termios.tcsetattr(fd, termios.TCSANOW, old)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # stopped here until SIGCONT
        signal.signal(signum, stopping)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)

    def resumed(_signum, _frame):
        termios.tcsetattr(fd, termios.TCSANOW, quiet)

    wanted = {signal.SIGTERM: ending, signal.SIGHUP: ending, signal.SIGCONT: resumed}
    wanted.update((s, stopping) for s in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))
    previous = {}
    for signum, handler in wanted.items():
        if signal.getsignal(signum) == signal.SIG_DFL:
            previous[signum] = signal.signal(signum, handler)
    return previous


def _checked_entry(entry, *more):
    """`entry` when it has the string fields an entry must have."""
    fields = ("name", "url") + more
    if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in fields):
        raise errors.KeyringError(UNEXPECTED)
    return entry


def _timed_out(timeout=TIMEOUT):
    return "the credd agent did not answer within %g s: check it with 'credd status'" % timeout


def _only_keyring_errors(method):
    """Turns any exception other than KeyringError and RuntimeError into a KeyringError: Poetry
    dies on anything else."""

    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (errors.KeyringError, RuntimeError):
            raise
        except Exception as error:  # noqa: BLE001 - the contract is "KeyringError only"
            raise errors.KeyringError(
                "credd keyring backend failed (%s): please report it" % type(error).__name__
            ) from None

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def repository_name(service):
    """NAME for Poetry's service name "poetry-repository-NAME", else None."""
    if service.startswith(REPOSITORY_PREFIX) and len(service) > len(REPOSITORY_PREFIX):
        return service[len(REPOSITORY_PREFIX):]
    return None


def username_matches(entry, username):
    """True when `entry` answers for `username` (None means any): its own username, or
    `__token__` for an entry without one (a bare token). The agent's rule for lookups by service;
    Poetry's names select by name, so this applies it to them."""
    own = entry.get("username")
    return username is None or own == username or (own is None and username == TOKEN_USERNAME)


def _credential(entry, asked=None):
    """The entry as a keyring credential. A bare token answers as the username asked for, else
    as `__token__`, as the native `keyring` command prints it (src/front/keyring.rs): an empty
    first line would vanish when uv trims the command's output."""
    username = entry.get("username") or asked or TOKEN_USERNAME
    return credentials.SimpleCredential(username, entry["secret"])


def _service_query(service, username):
    """The agent's `get` fields for a service string and an optional username."""
    if not isinstance(service, str) or (username is not None and not isinstance(username, str)):
        raise errors.KeyringError("credd: the service and username must be strings")
    query = {"url": service}
    if username is not None:
        query["username"] = username
    return query


class CreddKeyring(backend.KeyringBackend):
    """Credentials from the credd agent."""

    # Selected by PYTHON_KEYRING_BACKEND whatever its priority; high, so that a keyring config
    # that lists it also prefers it over the desktop keyrings (priority 5).
    priority = 10

    @_only_keyring_errors
    def get_password(self, service, username):
        """The password for `service` and `username`."""
        credential = self._lookup(service, username)
        return credential.password if credential else None

    @_only_keyring_errors
    def get_credential(self, service, username):
        """Username and password for `service` (and `username`, when not None)."""
        return self._lookup(service, username)

    def _lookup(self, service, username):
        if service == PROBE_SERVICE:
            return None
        name = repository_name(service) if isinstance(service, str) else None
        if name is None:
            if isinstance(service, str) and not service.strip():
                return None
            query = _service_query(service, username)
            with Connection() as connection:
                entry = connection.lookup(**query)
            return _credential(entry, username) if entry else None
        if username == EMPTY_USERNAME:
            return None
        with Connection() as connection:
            entry = connection.lookup(name=name)
            if entry is not None and _publishing() and not entry.get("publish"):
                # `poetry publish -r NAME`: the publish credential beside the entry NAME, if any.
                own = entry.get("username") or ""
                entry = connection.lookup(url=entry["url"], username=own) or entry
        if entry is None or not username_matches(entry, username):
            return None
        return _credential(entry, username)

    @_only_keyring_errors
    def set_password(self, service, username, password):
        """Stores `password` for the pair (`service`, `username`) through the agent."""
        if not isinstance(password, str):
            raise errors.PasswordSetError("credd: the password must be a string")
        name = repository_name(service) if isinstance(service, str) else None
        try:
            if name is None:
                self._set_service(service, username, password)
            else:
                self._set_repository(name, username, password)
        except AgentError as error:
            if error.kind == "bad-request":
                raise errors.PasswordSetError(str(error)) from None
            raise

    def _set_service(self, service, username, password):
        query = _service_query(service, username)
        if not service.strip():
            raise errors.PasswordSetError("credd: the service is empty: name the index URL")
        with Connection() as connection:
            connection.call(
                "set", _timeout=WRITE_TIMEOUT, secret=password, note="stored by keyring", **query
            )

    def _set_repository(self, name, username, password):
        """Poetry's repository NAME: the entry NAME, serving the URL Poetry's files give it."""
        with Connection() as connection:
            existing = connection.get(name=name)
            url = existing["url"] if existing else poetry_repository_url(name)
            if not url:
                raise errors.PasswordSetError(
                    "credd needs the URL of repository %s: run 'poetry config repositories.%s "
                    "URL' first (or name it as a source in pyproject.toml)" % (name, name)
                )
            entry = {"name": name, "url": url, "secret": password}
            if username and username != EMPTY_USERNAME:
                entry["username"] = username
            for kept in ("expires", "note"):
                if existing and existing.get(kept) is not None:
                    entry[kept] = existing[kept]
            entry.setdefault("note", "stored by Poetry")
            connection.call("put", _timeout=WRITE_TIMEOUT, entry=entry, replace=True)

    @_only_keyring_errors
    def delete_password(self, service, username):
        """Removes the credential get_password(service, username) answers."""
        name = repository_name(service) if isinstance(service, str) else None
        with Connection() as connection:
            if name is None:
                query = _service_query(service, username)
                entry = connection.get(**query) if service.strip() else None
            else:
                entry = connection.get(name=name)
                if entry is not None and not username_matches(entry, _real(username)):
                    entry = None
            if entry is None:
                # Never the service itself: its user info may hold a password.
                raise errors.PasswordDeleteError("credd has no credential for that service and user")
            connection.call("delete", _timeout=WRITE_TIMEOUT, name=entry["name"])


def _real(username):
    return None if username == EMPTY_USERNAME else username


def poetry_repository_url(name, cwd=None):
    """The URL a credential Poetry keeps for repository NAME serves: POETRY_REPOSITORIES_<NAME>_URL,
    the project's poetry.toml, Poetry's config.toml, PyPI's upload URL for "pypi", a source of the
    project's pyproject.toml; else None. credd's RepositoryUrls::credential_url has the same rule
    (a test runs both on the same cases)."""
    from_env = os.environ.get(_repository_env_var(name))
    if from_env:
        return from_env
    project = _find_pyproject(cwd or os.getcwd())
    files = []
    if project:
        files.append(os.path.join(os.path.dirname(project), "poetry.toml"))
    files.append(os.path.join(_poetry_config_dir(), "config.toml"))
    for path in files:
        # Poetry 2 reads ["repositories", NAME, "url"]: NAME whole, dots included.
        url = _get(_read_toml(path), "repositories", name, "url")
        if isinstance(url, str) and url:
            return url
    if name == "pypi":
        return PYPI_UPLOAD_URL
    if project:
        sources = _get(_read_toml(project), "tool", "poetry", "source")
        for source in sources if isinstance(sources, list) else []:
            if isinstance(source, dict) and source.get("name") == name:
                url = source.get("url")
                if isinstance(url, str) and url:
                    return url
    return None


def _repository_env_var(name):
    # Poetry's Config.get builds it from the keys ["repositories", NAME, "url"]: each upper case
    # with "-" as "_", joined by "_"; NAME's dots are kept.
    return "POETRY_REPOSITORIES_%s_URL" % name.upper().replace("-", "_")


def _poetry_config_dir():
    # Poetry's rule on Linux, as credd's poetry::files::config_dir has it (a test checks both).
    explicit = os.environ.get("POETRY_CONFIG_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "pypoetry")


def _find_pyproject(start):
    current = os.path.abspath(start)
    while True:
        candidate = os.path.join(current, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _read_toml(path):
    if tomllib is None:
        return {}
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except (OSError, ValueError):
        return {}


def _get(table, *keys):
    for key in keys:
        if not isinstance(table, dict):
            return None
        table = table.get(key)
    return table
