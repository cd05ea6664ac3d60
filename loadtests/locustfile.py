"""The locustfile `carrier-sim run` hands to Locust: the SmppUser and the scenario's load shape.

Configuration comes from environment variables set by `carrier-sim run` (see loadtests.user);
it can also be used directly: `locust -f loadtests/locustfile.py --host 127.0.0.1:2775`.
"""

from loadtests.shape import shape_for_environment
from loadtests.user import SmppUser

__all__ = ["SmppUser"]

ScenarioShape = shape_for_environment()
if ScenarioShape is None:
    del ScenarioShape
