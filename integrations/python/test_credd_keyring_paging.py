"""credd_keyring against a real credd agent holding more entries than one `list` reply carries.

Run by `cargo test --test poetry` (tests/poetry.rs), which starts an unlocked agent holding
CREDD_TEST_BULK_ENTRIES entries named bulk-0000, bulk-0001, … (entry N serves
https://bulk-N.example/simple/ with secret tok-N) and, sorting after them all, "zz-late" (user
alice, secret pw-late) serving http://127.0.0.1:8080/simple/.
"""

import os
import unittest

from credd_keyring import CreddKeyring
from test_credd_keyring import agent

BULK = int(os.environ["CREDD_TEST_BULK_ENTRIES"])
NAMES = ["bulk-%04d" % i for i in range(BULK)] + ["zz-late"]


class ManyEntries(unittest.TestCase):
    def test_the_agent_answers_in_pages(self):
        first = agent("list")["ok"]
        self.assertIn("next", first)
        self.assertLess(len(first["entries"]), len(NAMES))

    def test_host_lookup_finds_an_entry_beyond_the_first_page(self):
        credential = CreddKeyring().get_credential("127.0.0.1:8080", None)
        self.assertIsNotNone(credential)
        self.assertEqual((credential.username, credential.password), ("alice", "pw-late"))
        self.assertEqual(CreddKeyring().get_credential("bulk-0007.example", None).password, "tok-7")


if __name__ == "__main__":
    unittest.main()
