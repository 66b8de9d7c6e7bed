"""Tests of the Python client against a real cluster, run by tests/cluster_python_client_test.cc
(which starts it and sets MUSTER_URL, MUSTER_TOKEN, MUSTER_CA_CERT, MUSTER_VIEWER_TOKEN,
MUSTER_TEST_CLIENT_CERT/KEY (the viewer's certificate) and MUSTER_TEST_WORKDIR). Without those variables every test fails: they cannot pass by skipping."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import muster  # noqa: E402


def env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError(name + " is not set: run through cluster_python_client_test")
    return value


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = muster.Client()  # MUSTER_URL, MUSTER_TOKEN, MUSTER_CA_CERT
        cls.workdir = env("MUSTER_TEST_WORKDIR")
        env("MUSTER_URL")

    def test_submit_wait_logs_and_the_job_in_lists(self):
        job = self.c.submit("echo hello from python; echo second", workdir=self.workdir,
                            name="py-hello")
        self.assertIsInstance(job, int)
        done = self.c.wait(job, timeout=60)
        self.assertEqual(done["state"], "succeeded")
        self.assertEqual(done["name"], "py-hello")
        self.assertEqual(self.c.logs(job), "hello from python\nsecond\n")
        ids = [j["job_id"] for j in self.c.jobs(state="succeeded", page=1)]
        self.assertIn(job, ids)  # read over pages of one
        self.assertIn(job, [j["job_id"] for j in self.c.jobs(all=True, name="py-hello")])
        self.assertTrue(any(a["job_id"] == job for a in self.c.acct(since="1d")))

    def test_logs_follow_yields_lines_as_they_come(self):
        job = self.c.submit(["/bin/sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done"],
                            workdir=self.workdir)
        self.assertEqual(list(self.c.logs(job, task=0, follow=True)),
                         ["tick 1", "tick 2", "tick 3"])

    def test_cancel_and_typed_errors(self):
        job = self.c.submit("sleep 300", workdir=self.workdir)
        self.c.cancel(job)
        self.assertEqual(self.c.wait(job, timeout=60)["state"], "cancelled")
        with self.assertRaises(muster.Conflict) as e:
            self.c.cancel(job)
        self.assertIn("already cancelled", e.exception.message)
        with self.assertRaises(muster.NotFound):
            self.c.job(999999)
        with self.assertRaises(muster.InvalidArgument) as e:
            self.c.submit("true", workdir=self.workdir, gpuz=1)
        self.assertIn("unknown key 'gpuz'", str(e.exception))
        viewer = muster.Client(token=env("MUSTER_VIEWER_TOKEN"))
        with self.assertRaises(muster.PermissionDenied):
            viewer.submit("true", workdir=self.workdir)
        with self.assertRaises(muster.Unauthenticated):
            muster.Client(token="").nodes()
        with self.assertRaises(muster.Unavailable):
            muster.Client(url="https://127.0.0.1:1", timeout=5).nodes()

    def test_a_client_certificate_instead_of_a_token(self):
        crt, key = env("MUSTER_TEST_CLIENT_CERT"), env("MUSTER_TEST_CLIENT_KEY")
        c = muster.Client(token="", client_cert=crt, client_key=key)
        who = c.whoami()
        self.assertEqual((who["name"], who["role"], who["via"]), ("vic", "viewer", "certificate"))
        self.assertEqual([n["name"] for n in c.nodes()], ["node-0"])
        with self.assertRaises(muster.PermissionDenied):
            c.submit("true", workdir=self.workdir)
        with self.assertRaises(muster.InvalidArgument):
            muster.Client(url="http://127.0.0.1:1", client_cert=crt, client_key=key)

    def test_the_cluster_views(self):
        nodes = self.c.nodes()
        self.assertEqual([n["name"] for n in nodes], ["node-0"])
        self.assertIn("mode", self.c.balance())
        self.assertIsInstance(self.c.schedule(all=True), list)


if __name__ == "__main__":
    unittest.main()
