"""Tests of credd_keyring against a real credd agent.

Run by `cargo test --test poetry` (tests/poetry.rs), which starts an agent with an unlocked vault
and sets CREDD_SOCKET to its socket and CREDD_TEST_PASSPHRASE to the vault's passphrase. By hand:
the same variables, then `python -m unittest test_credd_keyring` in this directory with `keyring`
installed.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import unittest.mock

import keyring
from keyring import credentials, errors

import credd_keyring
from credd_keyring import CreddKeyring

SOCKET = os.environ["CREDD_SOCKET"]
PASSPHRASE = os.environ["CREDD_TEST_PASSPHRASE"]
HERE = os.path.dirname(os.path.abspath(__file__))
# Another local user, for the squatting tests (the suite runs as root, as CI does).
OTHER_UID = 65534


def agent(op, **fields):
    """One request to the agent over a raw connection, independent of the module under test."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(SOCKET)
        sock.sendall(json.dumps(dict(fields, v=1, id=1, op=op)).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def put(name, url, secret, username=None):
    entry = {"name": name, "url": url, "secret": secret}
    if username is not None:
        entry["username"] = username
    reply = agent("put", entry=entry)
    assert "ok" in reply, reply


class AgentTestCase(unittest.TestCase):
    """Each test starts with an unlocked agent holding no entry."""

    def setUp(self):
        reply = agent("unlock", passphrase=PASSPHRASE)
        self.assertIn("ok", reply)
        for entry in agent("list")["ok"]["entries"]:
            agent("delete", name=entry["name"])
        self.keyring = CreddKeyring()
        saved = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(saved)))


class Lookups(AgentTestCase):
    def setUp(self):
        super().setUp()
        put("corp", "http://127.0.0.1:8080/simple/", "pw-corp", username="alice")
        put("corp-upload", "http://127.0.0.1:8080/", "tok-upload")
        put("other", "https://pypi.other.example/simple", "pw-other", username="bob")

    def test_get_password_by_repository_name_when_the_username_matches(self):
        self.assertEqual(self.keyring.get_password("poetry-repository-corp", "alice"), "pw-corp")
        self.assertIsNone(self.keyring.get_password("poetry-repository-corp", "mallory"))
        self.assertIsNone(self.keyring.get_password("poetry-repository-nope", "alice"))

    def test_placeholder_username_gets_none(self):
        self.assertIsNone(
            self.keyring.get_password(
                "poetry-repository-corp", "__poetry_source_empty_username__"
            )
        )

    def test_an_entry_without_username_is_a_token(self):
        self.assertEqual(
            self.keyring.get_password("poetry-repository-corp-upload", "__token__"), "tok-upload"
        )
        self.assertIsNone(self.keyring.get_password("poetry-repository-corp-upload", "alice"))

    def test_get_credential_by_url_with_and_without_trailing_slash(self):
        for url in ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8080/simple/"):
            credential = self.keyring.get_credential(url, None)
            self.assertIsInstance(credential, credentials.Credential)
            self.assertEqual((credential.username, credential.password), ("alice", "pw-corp"))
        credential = self.keyring.get_credential("https://pypi.other.example/simple/", None)
        self.assertEqual((credential.username, credential.password), ("bob", "pw-other"))
        # The upload entry serves the rest of the host; a bare token answers as `__token__`.
        credential = self.keyring.get_credential("http://127.0.0.1:8080/packages/x.whl", None)
        self.assertEqual((credential.username, credential.password), ("__token__", "tok-upload"))

    def test_get_credential_by_host_and_port(self):
        credential = self.keyring.get_credential("127.0.0.1:8080", None)
        # Both entries are on that host: the one with the shortest path serves it.
        self.assertEqual(credential.password, "tok-upload")
        credential = self.keyring.get_credential("pypi.other.example", None)
        self.assertEqual(credential.password, "pw-other")
        self.assertIsNone(self.keyring.get_credential("127.0.0.1:9999", None))
        self.assertIsNone(self.keyring.get_credential("pypi.other.example:8443", None))

    def test_unknown_url_or_other_scheme_gets_none(self):
        self.assertIsNone(self.keyring.get_credential("https://127.0.0.1:8080/simple/", None))
        self.assertIsNone(self.keyring.get_credential("http://elsewhere.example/simple/", None))
        self.assertIsNone(self.keyring.get_password("http://elsewhere.example/", "x"))

    def test_get_credential_with_a_username_filters(self):
        url = "http://127.0.0.1:8080/simple/"
        self.assertEqual(self.keyring.get_credential(url, "alice").password, "pw-corp")
        self.assertIsNone(self.keyring.get_credential(url, "bob"))

    def test_probe_service_gets_none(self):
        self.assertIsNone(self.keyring.get_password("python-poetry-check", "python-poetry"))
        self.assertIsNone(self.keyring.get_credential("python-poetry-check", None))


class Storing(AgentTestCase):
    def test_set_password_stores_through_the_agent(self):
        os.environ["POETRY_REPOSITORIES_NEW_REPO_URL"] = "https://new.example/simple/"
        self.keyring.set_password("poetry-repository-new-repo", "carol", "pw-new")
        entry = agent("get", name="new-repo")["ok"]["entry"]
        self.assertEqual(entry["url"], "https://new.example/simple/")
        self.assertEqual((entry["username"], entry["secret"]), ("carol", "pw-new"))
        # A second call replaces the secret and keeps the URL, whatever the environment says.
        del os.environ["POETRY_REPOSITORIES_NEW_REPO_URL"]
        self.keyring.set_password("poetry-repository-new-repo", "carol", "pw-newer")
        entry = agent("get", name="new-repo")["ok"]["entry"]
        self.assertEqual((entry["url"], entry["secret"]), ("https://new.example/simple/", "pw-newer"))

    def test_set_password_takes_the_url_from_poetry_files(self):
        with tempfile.TemporaryDirectory() as home:
            config = os.path.join(home, "config")
            project = os.path.join(home, "project", "sub")
            os.makedirs(config)
            os.makedirs(project)
            os.environ["POETRY_CONFIG_DIR"] = config
            with open(os.path.join(config, "config.toml"), "w") as file:
                file.write('[repositories.up]\nurl = "https://up.example/"\n')
            with open(os.path.join(home, "project", "pyproject.toml"), "w") as file:
                file.write(
                    '[[tool.poetry.source]]\nname = "src"\nurl = "https://src.example/simple/"\n'
                )
            self.assertEqual(credd_keyring.poetry_repository_url("up", project), "https://up.example/")
            self.assertEqual(
                credd_keyring.poetry_repository_url("src", project), "https://src.example/simple/"
            )
            self.assertEqual(
                credd_keyring.poetry_repository_url("pypi", project), "https://upload.pypi.org/legacy/"
            )
            self.assertIsNone(credd_keyring.poetry_repository_url("none", project))
            previous = os.getcwd()
            os.chdir(project)
            self.addCleanup(os.chdir, previous)
            self.keyring.set_password("poetry-repository-src", "__token__", "tok-src")
        entry = agent("get", name="src")["ok"]["entry"]
        self.assertEqual((entry["url"], entry["username"]), ("https://src.example/simple/", "__token__"))

    def test_set_password_without_a_url_is_a_keyring_error(self):
        os.environ["POETRY_CONFIG_DIR"] = tempfile.mkdtemp()
        with self.assertRaises(errors.PasswordSetError) as raised:
            self.keyring.set_password("poetry-repository-unknown-xyz", "u", "p")
        self.assertIn("poetry config repositories.unknown-xyz", str(raised.exception))

    def test_delete_password(self):
        put("gone", "https://gone.example/", "pw", username="dave")
        with self.assertRaises(errors.PasswordDeleteError):
            self.keyring.delete_password("poetry-repository-gone", "someone-else")
        self.keyring.delete_password("poetry-repository-gone", "dave")
        self.assertEqual(agent("get", name="gone")["error"]["kind"], "not-found")
        with self.assertRaises(errors.PasswordDeleteError):
            self.keyring.delete_password("poetry-repository-gone", "dave")


class AnyService(AgentTestCase):
    """The backend for pip, uv and twine: any service string, several users per service."""

    INDEX = "https://pypi.corp.example/simple/"

    def test_every_method_round_trips_a_url_service(self):
        self.keyring.set_password(self.INDEX, "bot", "pw-bot")
        self.assertEqual(self.keyring.get_password(self.INDEX, "bot"), "pw-bot")
        credential = self.keyring.get_credential(self.INDEX, "bot")
        self.assertEqual((credential.username, credential.password), ("bot", "pw-bot"))
        credential = self.keyring.get_credential(self.INDEX, None)
        self.assertEqual((credential.username, credential.password), ("bot", "pw-bot"))
        # pip asks by the index URL without its trailing slash, then by host.
        self.assertEqual(self.keyring.get_password(self.INDEX.rstrip("/"), "bot"), "pw-bot")
        self.assertEqual(self.keyring.get_password("pypi.corp.example", "bot"), "pw-bot")
        self.keyring.set_password(self.INDEX, "bot", "pw-bot-2")
        self.assertEqual(self.keyring.get_password(self.INDEX, "bot"), "pw-bot-2")
        self.assertEqual(len(agent("list")["ok"]["entries"]), 1, "a new password replaces")
        self.keyring.delete_password(self.INDEX, "bot")
        self.assertIsNone(self.keyring.get_password(self.INDEX, "bot"))
        with self.assertRaises(errors.PasswordDeleteError):
            self.keyring.delete_password(self.INDEX, "bot")

    def test_a_second_user_is_a_second_credential_and_no_guess_is_made(self):
        self.keyring.set_password(self.INDEX, "bot", "pw-bot")
        self.keyring.set_password(self.INDEX, "publisher", "pw-pub")
        self.assertEqual(self.keyring.get_password(self.INDEX, "bot"), "pw-bot")
        self.assertEqual(self.keyring.get_password(self.INDEX + "pkg/", "publisher"), "pw-pub")
        self.assertEqual(self.keyring.get_credential(self.INDEX, "publisher").password, "pw-pub")
        self.assertIsNone(self.keyring.get_password(self.INDEX, "mallory"))
        for ask in (
            lambda: self.keyring.get_credential(self.INDEX, None),
            lambda: self.keyring.get_credential("pypi.corp.example", None),
        ):
            with self.assertRaises(errors.KeyringError) as raised:
                ask()
            message = str(raised.exception)
            self.assertIn('"bot"', message)
            self.assertIn('"publisher"', message)
            self.assertNotIn("pw-", message)
        self.keyring.delete_password(self.INDEX, "bot")
        self.assertEqual(self.keyring.get_credential(self.INDEX, None).username, "publisher")

    def test_the_exact_pair_comes_before_the_url_rules(self):
        put("root", "https://pypi.corp.example/", "pw-root", username="bot")
        deeper = "https://pypi.corp.example/team/simple/"
        self.assertEqual(self.keyring.get_password(deeper, "bot"), "pw-root")
        # Storing for the deeper URL adds a credential; it never rewrites the broader one.
        self.keyring.set_password(deeper, "bot", "pw-team")
        self.assertEqual(self.keyring.get_password(deeper, "bot"), "pw-team")
        self.assertEqual(agent("get", name="root")["ok"]["entry"]["secret"], "pw-root")
        self.keyring.delete_password(deeper, "bot")
        self.assertEqual(self.keyring.get_password(deeper, "bot"), "pw-root")

    def test_opaque_services_and_host_port_services_are_stored_as_given(self):
        for service in ("my-app", "127.0.0.1:3141", "my app [prod] ü"):
            self.keyring.set_password(service, "me", "pw " + service)
            self.assertEqual(self.keyring.get_password(service, "me"), "pw " + service)
            self.assertIsNone(self.keyring.get_password(service, "you"))
        self.assertIsNone(self.keyring.get_password("my-app-2", "me"))
        self.keyring.delete_password("my-app", "me")
        self.assertIsNone(self.keyring.get_password("my-app", "me"))

    def test_a_token_answers_as_the_username_asked_for(self):
        self.keyring.set_password("https://upload.corp.example/legacy/", "__token__", "pypi-tok")
        credential = self.keyring.get_credential("https://upload.corp.example/legacy/", "__token__")
        self.assertEqual((credential.username, credential.password), ("__token__", "pypi-tok"))
        put("bare", "https://bare.example/", "tok-bare")
        credential = self.keyring.get_credential("https://bare.example/x/", "__token__")
        self.assertEqual((credential.username, credential.password), ("__token__", "tok-bare"))
        self.assertEqual(self.keyring.get_password("https://bare.example/", ""), "tok-bare")

    def test_empty_passwords_are_stored_where_a_tool_stores_one(self):
        self.keyring.set_password(self.INDEX, "nobody", "")
        self.assertEqual(self.keyring.get_password(self.INDEX, "nobody"), "")

    def test_odd_inputs_give_none_or_a_keyring_error_never_another_exception(self):
        long = "x" * 10240
        odd_services = [
            "https://[bad/", "has spaces", "ünïcödé.example", "no-scheme/path", "[::1",
            "", "   ", long, "https://" + long, "http://h:99999/", "\udcff-surrogate",
            "https://u:secret-pw@h/",
        ]
        odd_users = [None, "", "ü", long, "with space"]
        for service in odd_services:
            for user in odd_users:
                for call in (
                    lambda: self.keyring.get_password(service, user),
                    lambda: self.keyring.get_credential(service, user),
                ):
                    try:
                        self.assertIsNone(call())
                    except errors.KeyringError as error:
                        self.assertNotIn("secret-pw", str(error))
                for call in (
                    lambda: self.keyring.set_password(service, user, "pw"),
                    lambda: self.keyring.delete_password(service, user),
                ):
                    try:
                        call()
                    except errors.KeyringError as error:
                        self.assertNotIn("secret-pw", str(error))
        # What can be stored answers; what cannot is refused with a KeyringError.
        self.keyring.set_password("has spaces", "with space", "pw")
        self.assertEqual(self.keyring.get_password("has spaces", "with space"), "pw")
        with self.assertRaises(errors.PasswordSetError):
            self.keyring.set_password("https://" + long, "u", "pw")
        with self.assertRaises(errors.PasswordSetError) as raised:
            self.keyring.set_password("https://u:secret-pw@h/", "u", "pw")
        self.assertNotIn("secret-pw", str(raised.exception))
        with self.assertRaises(errors.PasswordSetError):
            self.keyring.set_password(self.INDEX, "u", "p" * 20000)


class Failures(AgentTestCase):
    def test_locked_agent_is_keyring_locked_with_the_fix(self):
        put("corp", "http://127.0.0.1:8080/simple/", "pw", username="alice")
        agent("lock")
        self.addCleanup(agent, "unlock", passphrase=PASSPHRASE)
        calls = [
            lambda: self.keyring.get_password("poetry-repository-corp", "alice"),
            lambda: self.keyring.get_credential("http://127.0.0.1:8080/simple", None),
            lambda: self.keyring.get_credential("127.0.0.1:8080", None),
            lambda: self.keyring.set_password("poetry-repository-corp", "alice", "x"),
            lambda: self.keyring.delete_password("poetry-repository-corp", "alice"),
        ]
        for call in calls:
            with self.assertRaises(errors.KeyringLocked) as raised:
                call()
            self.assertEqual(str(raised.exception), "credd is locked: run 'credd unlock'")
        # The probe still answers, so Poetry keeps using the backend and shows the message.
        self.assertIsNone(self.keyring.get_password("python-poetry-check", "python-poetry"))

    def test_no_agent_is_a_keyring_error(self):
        with tempfile.TemporaryDirectory() as empty:
            os.environ["CREDD_SOCKET"] = os.path.join(empty, "credd.sock")
            with self.assertRaises(errors.KeyringError) as raised:
                self.keyring.get_credential("http://127.0.0.1:8080/simple", None)
            self.assertTrue(str(raised.exception).startswith("credd agent is not running"))
            self.assertIsNone(self.keyring.get_password("python-poetry-check", "python-poetry"))
            # A socket path that is a directory, or too long, is an error of the same kind.
            os.environ["CREDD_SOCKET"] = empty
            with self.assertRaises(errors.KeyringError):
                self.keyring.get_password("poetry-repository-corp", "alice")
            os.environ["CREDD_SOCKET"] = os.path.join(empty, "x" * 200)
            with self.assertRaises(errors.KeyringError):
                self.keyring.get_password("poetry-repository-corp", "alice")

    def test_a_silent_agent_times_out_within_the_lookup_timeout(self):
        # Shortened from the 35 s a lookup may wait on a mint, to keep the test quick.
        with unittest.mock.patch.object(credd_keyring, "LOOKUP_TIMEOUT", 2.0), FakeAgent(
            lambda line: None
        ) as fake:
            os.environ["CREDD_SOCKET"] = fake.path
            start = time.monotonic()
            with self.assertRaises(errors.KeyringError) as raised:
                self.keyring.get_password("poetry-repository-corp", "alice")
            elapsed = time.monotonic() - start
        self.assertIn("did not answer", str(raised.exception))
        self.assertLess(elapsed, 2.5)
        self.assertGreaterEqual(elapsed, 1.9)

    def test_a_write_may_wait_on_the_keychain_longer_than_a_lookup(self):
        def slow_put(request):
            if request["op"] != "put":
                return {"id": request["id"], "error": {"kind": "not-found", "message": "-"}}
            time.sleep(3.2)  # past a status request's 2 s: the agent's keychain bound is 3 s
            return {"id": request["id"], "ok": {"replaced": False}}

        os.environ["POETRY_REPOSITORIES_SLOW_URL"] = "https://slow.test/simple/"
        with FakeAgent(each_request(slow_put), raw=True) as fake:
            os.environ["CREDD_SOCKET"] = fake.path
            self.keyring.set_password("poetry-repository-slow", "u", "pw")

    def test_a_trickling_agent_times_out_within_the_lookup_timeout(self):
        def trickle(conn):
            for _ in range(40):
                conn.sendall(b" ")
                time.sleep(0.1)

        with unittest.mock.patch.object(credd_keyring, "LOOKUP_TIMEOUT", 2.0), FakeAgent(
            trickle, raw=True
        ) as fake:
            os.environ["CREDD_SOCKET"] = fake.path
            start = time.monotonic()
            with self.assertRaises(errors.KeyringError):
                self.keyring.get_credential("http://127.0.0.1:8080/simple", None)
            self.assertLess(time.monotonic() - start, 2.5)

    def test_broken_replies_are_keyring_errors_that_never_quote_them(self):
        replies = [
            b"not json at all secret-in-garbage\n",
            b"[1, 2, 3]\n",
            b'{"id": 1}\n',
            b'{"id": 99, "ok": {}}\n',
            b'{"id": 1, "ok": {"entry": "secret-in-garbage"}}\n',
            b"x" * 70000 + b"\n",
            b"\xff\xfe\n",
            b"",
        ]
        for reply in replies:
            with FakeAgent(lambda line, reply=reply: reply) as fake:
                os.environ["CREDD_SOCKET"] = fake.path
                for call in (
                    lambda: self.keyring.get_password("poetry-repository-corp", "alice"),
                    lambda: self.keyring.get_credential("127.0.0.1:8080", None),
                ):
                    with self.assertRaises(errors.KeyringError) as raised:
                        call()
                    self.assertNotIn("secret-in-garbage", str(raised.exception))

    def test_unexpected_arguments_are_keyring_errors(self):
        for call in (
            lambda: self.keyring.get_password(None, "alice"),
            lambda: self.keyring.get_credential(42, None),
            lambda: self.keyring.delete_password(b"poetry-repository-x", "u"),
        ):
            with self.assertRaises(errors.KeyringError):
                call()

    def test_a_socket_directory_of_another_user_gets_nothing(self):
        received = []
        with FakeAgent(lambda line: received.append(line) or b'{"id":1,"ok":{}}\n') as fake:
            os.chown(os.path.dirname(fake.path), OTHER_UID, OTHER_UID)
            os.chmod(os.path.dirname(fake.path), 0o777)
            os.environ["CREDD_SOCKET"] = fake.path
            os.environ["POETRY_REPOSITORIES_CORP_URL"] = "https://corp.test/simple/"
            for call in (
                lambda: self.keyring.get_password("poetry-repository-corp", "alice"),
                lambda: self.keyring.set_password("poetry-repository-corp", "alice", "squat-pw"),
            ):
                with self.assertRaises(errors.KeyringError) as raised:
                    call()
                self.assertIn("refusing to talk to the credd agent", str(raised.exception))
                self.assertIn("owned by uid %d" % OTHER_UID, str(raised.exception))
        self.assertEqual(received, [])

    def test_a_listener_of_another_user_gets_no_byte(self):
        with tempfile.TemporaryDirectory() as root:
            os.chmod(root, 0o711)
            theirs = os.path.join(root, "theirs")
            os.mkdir(theirs)
            os.chown(theirs, OTHER_UID, OTHER_UID)
            report_read, report_write = os.pipe()
            ready_read, ready_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the other user's listener: reports what one connection sent
                try:
                    os.setgid(OTHER_UID)
                    os.setuid(OTHER_UID)
                    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    server.bind(os.path.join(theirs, "s.sock"))
                    server.listen(4)
                    os.write(ready_write, b"r")
                    server.settimeout(10)
                    conn, _ = server.accept()
                    conn.settimeout(2)
                    got = b""
                    try:
                        while True:
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            got += chunk
                    except socket.timeout:
                        pass
                    os.write(report_write, b"got:" + got)
                finally:
                    os._exit(0)
            os.read(ready_read, 1)
            ours = os.path.join(root, "ours")
            os.mkdir(ours, 0o700)
            # A socket file keeps its listener when moved: only the peer check refuses it.
            os.rename(os.path.join(theirs, "s.sock"), os.path.join(ours, "credd.sock"))
            os.environ["CREDD_SOCKET"] = os.path.join(ours, "credd.sock")
            os.environ["POETRY_REPOSITORIES_CORP_URL"] = "https://corp.test/simple/"
            with self.assertRaises(errors.KeyringError) as raised:
                self.keyring.set_password("poetry-repository-corp", "alice", "squat-pw")
            self.assertIn("served by uid %d" % OTHER_UID, str(raised.exception))
            os.close(report_write)
            report = os.read(report_read, 65536)
            os.waitpid(pid, 0)
        self.assertEqual(report, b"got:")

    def test_agent_errors_carry_the_agents_message(self):
        with FakeAgent(
            lambda line: b'{"id":1,"error":{"kind":"busy","message":"the agent is serving too '
            b'many connections: try again shortly"}}\n'
        ) as fake:
            os.environ["CREDD_SOCKET"] = fake.path
            with self.assertRaises(errors.KeyringError) as raised:
                self.keyring.get_password("poetry-repository-corp", "alice")
        self.assertIn("try again shortly", str(raised.exception))


class StepUpPrompt(unittest.TestCase):
    def test_the_prompt_names_the_grace_window_in_the_words_of_the_rust_clients(self):
        # src/step_up.rs words them so; tests/cargo.rs checks its prompt on a terminal.
        self.assertEqual(
            credd_keyring._step_up_prompt("poetry publish", None),
            "poetry publish: enter the credd passphrase to allow: ",
        )
        self.assertEqual(
            credd_keyring._step_up_prompt("poetry publish", 300),
            "poetry publish: enter the credd passphrase to allow "
            "(then allowed for 5 min for this terminal): ",
        )
        self.assertIn("for 90 s for", credd_keyring._step_up_prompt("twine upload", 90))


class Selection(unittest.TestCase):
    def test_selected_by_environment_variable_and_acceptable_to_poetry(self):
        env = dict(
            os.environ,
            PYTHON_KEYRING_BACKEND="credd_keyring.CreddKeyring",
            PYTHONPATH=HERE,
        )
        script = (
            "import keyring; k = keyring.get_keyring(); "
            "print(type(k).__module__ + '.' + type(k).__name__); print(k.name)"
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split("\n")
        self.assertEqual(out[0], "credd_keyring.CreddKeyring")
        # Poetry refuses backends whose name starts with these words or mentions plaintext.
        first_word = out[1].split(" ")[0]
        self.assertNotIn(first_word, ("chainer", "fail", "null"))
        self.assertNotIn("plaintext", out[1].lower())

    def test_socket_path_rules(self):
        saved = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(saved)))
        for var in ("CREDD_SOCKET", "XDG_RUNTIME_DIR", "TMPDIR"):
            os.environ.pop(var, None)
        with tempfile.TemporaryDirectory() as base:
            run_user = os.path.join(base, "%d")
            self.addCleanup(setattr, credd_keyring, "RUN_USER", credd_keyring.RUN_USER)
            credd_keyring.RUN_USER = run_user
            os.mkdir(run_user % os.getuid(), 0o700)
            self.assertEqual(
                credd_keyring.socket_path(),
                os.path.join(run_user % os.getuid(), "credd", "credd.sock"),
            )
            os.chmod(run_user % os.getuid(), 0o755)  # not private: not used
            self.assertEqual(
                credd_keyring.socket_path(), "/tmp/credd-%d/credd.sock" % os.getuid()
            )
            os.rmdir(run_user % os.getuid())
        self.assertEqual(credd_keyring.socket_path(), "/tmp/credd-%d/credd.sock" % os.getuid())
        os.environ["TMPDIR"] = "/var/tmp"
        self.assertEqual(credd_keyring.socket_path(), "/var/tmp/credd-%d/credd.sock" % os.getuid())
        os.environ["XDG_RUNTIME_DIR"] = "/run/user/7"
        self.assertEqual(credd_keyring.socket_path(), "/run/user/7/credd/credd.sock")
        os.environ["CREDD_SOCKET"] = "/elsewhere/s.sock"
        self.assertEqual(credd_keyring.socket_path(), "/elsewhere/s.sock")


def each_request(answer):
    """A raw FakeAgent handler that answers every request line of a connection with
    `answer(request)`, both JSON objects as dicts."""

    def handle(conn):
        pending = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                conn.sendall(json.dumps(answer(json.loads(line))).encode() + b"\n")

    return handle


class FakeAgent:
    """A Unix socket server that answers each request line with `respond(line)` (None: stays
    silent), or hands the raw connection to `respond` when `raw`."""

    def __init__(self, respond, raw=False):
        self._dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._dir.name, "fake.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(8)
        self._server.settimeout(0.2)
        self._respond = respond
        self._raw = raw
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join(10)
        self._server.close()
        self._dir.cleanup()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._answer(conn)
                except OSError:
                    pass

    def _answer(self, conn):
        if self._raw:
            self._respond(conn)
            return
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        reply = self._respond(data)
        if reply is None:
            self._stop.wait(3)
        elif reply:
            conn.sendall(reply)


if __name__ == "__main__":
    unittest.main()
