"""The scenario engine: NewStore flows replayed over HTTP against any simulator and any
integration. It imports nothing of the simulator's internals.

    from simulator.scenario import SimClient, Target, flows, load_paths, run_all
"""

from simulator.scenario import flows
from simulator.scenario.client import Answer, SimClient, SimUnreachable
from simulator.scenario.engine import ScenarioResult, Target
from simulator.scenario.loader import Scenario, ScenarioFileError, load_file, load_paths
from simulator.scenario.runner import RunReport, run_all, run_one

__all__ = ["Answer", "RunReport", "Scenario", "ScenarioFileError", "ScenarioResult",
           "SimClient", "SimUnreachable", "Target", "flows", "load_file", "load_paths",
           "run_all", "run_one"]
