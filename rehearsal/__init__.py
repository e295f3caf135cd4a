"""The production rehearsal's stand-ins, run on 127.0.0.1. Not part of the shipped wheel.

``rehearsal.workspace`` is a Databricks workspace emulator: the Jobs API 2.2 over HTTP, which creates jobs
from their settings and *executes* each ``python_wheel_task`` by running the wheel's entry point in a
subprocess, on a controllable clock (``rehearsal.clock``) that the console's processes can follow.
"""
