#!/usr/bin/env python3
"""Submits a small array through muster's REST API, follows task 0's output, waits for the job
and prints its usage. Uses clients/python (standard library only).

    export MUSTER_URL=$(cat $MUSTER_STATE_DIR/coordinator/coordinator.http)   # muster up --http
    export MUSTER_CA_CERT=$MUSTER_STATE_DIR/coordinator/tls/ca.crt
    export MUSTER_TOKEN=$(muster admin user add $USER -q)
    python3 examples/rest_client.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                "python"))
import muster  # noqa: E402

c = muster.Client()
job = c.submit("echo task $MUSTER_TASK_INDEX of job $MUSTER_JOB_ID on $(hostname); sleep 1",
               array="0-3", name="rest-example")
print("submitted job", job)
for line in c.logs(job, task=0, follow=True):
    print("task 0:", line)
done = c.wait(job)
print("job", job, done["state"], done["task_states"])
for usage in c.acct(job=job):
    print("cpu-hours %.4f, gpu-hours %.4f" % (usage["cpu_hours"], usage["gpu_hours"]))
